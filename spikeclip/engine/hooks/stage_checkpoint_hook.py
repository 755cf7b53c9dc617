"""MMEngine's CheckpointHook, plus a stable ``<stage>_best.pth`` for the next stage to name."""
import os.path as osp
import shutil

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from ...registry import HOOKS
from ...utils.atomic import atomic_open
from .utils import unwrapped_model


@HOOKS.register_module()
class StageCheckpointHook(CheckpointHook):
    """Keeps ``<work_dir>/<stage>_best.pth`` (``coarse_best.pth``, ...) a copy of the best one.

    MMEngine names the best checkpoint after its metric and epoch (``best_PSNR_epoch_7.pth``) and
    deletes the previous one before writing the next; this hook also keeps a fixed name that later
    stages and tools can point at, replaced atomically, so it always holds a whole checkpoint.
    All arguments are CheckpointHook's.
    """

    def _save_best_checkpoint(self, runner, metrics) -> None:
        before = runner.message_hub.get_info('best_ckpt')
        super()._save_best_checkpoint(runner, metrics)
        best = runner.message_hub.get_info('best_ckpt')
        if best and best != before and is_main_process() and osp.isfile(best):
            model = unwrapped_model(runner)
            stage = getattr(model, 'stage', None) or 'model'
            dst = osp.join(osp.dirname(best), f'{stage}_best.pth')
            with open(best, 'rb') as src, atomic_open(dst, 'wb') as out:
                shutil.copyfileobj(src, out)
            runner.logger.info(f'best checkpoint so far copied to {dst}')
