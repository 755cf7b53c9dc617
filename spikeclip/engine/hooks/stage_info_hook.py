"""Writes what produced a run into its work dir and into every checkpoint it saves."""
import os.path as osp

from mmengine.hooks import Hook

from ...models.stages.checkpoint_meta import stage_meta, write_meta
from ...models.stages.stored_config import absolute_paths
from ...registry import HOOKS
from ...utils.atomic import atomic_write_json
from ...utils.env import collect_env
from .utils import unwrapped_model


@HOOKS.register_module()
class StageInfoHook(Hook):
    """Records the stage, the self-contained model config, class names, seed, library versions
    and git commit.

    * ``<work_dir>/env.json`` at the start of the run.
    * ``checkpoint['meta']['spikeclip']`` (:mod:`~spikeclip.models.stages.checkpoint_meta`) in
      every checkpoint: ``stage``, ``model`` (the config
      that rebuilds the model without earlier-stage files, its CLIP weight file an absolute path
      so that the checkpoint loads from any directory), ``class_names``, ``sources`` (the
      earlier-stage checkpoints it was built from), ``seed``, ``env``.
      Stage checkpoints are recognised (and wrong-stage ones refused) through this entry.
    """
    priority = 'VERY_LOW'

    def __init__(self):
        self._env = None

    def _info(self, runner) -> dict:
        model = unwrapped_model(runner)
        if self._env is None:
            self._env = collect_env()
        return stage_meta(getattr(model, 'stage', None),
                          absolute_paths(model.export_cfg()) if hasattr(model, 'export_cfg')
                          else None,
                          getattr(model, 'class_names', None), getattr(model, 'sources', None),
                          seed=runner.seed, env=self._env)

    def before_run(self, runner) -> None:
        if runner.rank == 0:
            info = self._info(runner)
            atomic_write_json(osp.join(runner.work_dir, 'env.json'),
                              dict(seed=info['seed'], stage=info['stage'], **info['env']))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        write_meta(checkpoint, self._info(runner))
        # MMEngine stores every message-hub key with its "resume me" flag and, on --resume,
        # warns about each flagged False (e.g. DeviceMetricsHook's figures) that the new run
        # has not logged yet; keys that are not resumed need not be stored at all.
        hub = checkpoint.get('message_hub')
        if isinstance(hub, dict) and isinstance(hub.get('resumed_keys'), dict):
            hub['resumed_keys'] = {k: v for k, v in hub['resumed_keys'].items() if v}
