"""MMEngine's CheckpointHook, plus a stable ``<stage>_best.pth`` for the next stage to name."""
import logging
import os.path as osp
import shutil

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from ...registry import HOOKS
from ...utils.atomic import atomic_open
from .utils import is_within, unwrapped_model


class _RemovesOnlyWithin:
    """A file backend whose ``remove``/``rmtree`` refuse (and log) paths outside the hook's
    ``out_dir``; everything else is the wrapped backend's."""

    def __init__(self, backend, hook: 'StageCheckpointHook'):
        self._backend, self._hook = backend, hook

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def _allowed(self, path) -> bool:
        out_dir = self._hook.out_dir
        if out_dir is not None and is_within(str(path), str(out_dir)):
            return True
        print_log(f'not removing {path}: it lies outside the checkpoint folder {out_dir}',
                  logger='current', level=logging.WARNING)
        return False

    def remove(self, path, *args, **kwargs):
        if self._allowed(path):
            return self._backend.remove(path, *args, **kwargs)

    def rmtree(self, path, *args, **kwargs):
        if self._allowed(path):
            return self._backend.rmtree(path, *args, **kwargs)


@HOOKS.register_module()
class StageCheckpointHook(CheckpointHook):
    """Keeps ``<work_dir>/<stage>_best.pth`` (``coarse_best.pth``, ...) a copy of the best one,
    and never deletes a file outside its own ``out_dir``.

    MMEngine names the best checkpoint after its metric and epoch (``best_PSNR_epoch_7.pth``) and
    deletes the previous one before writing the next; this hook also keeps a fixed name that later
    stages and tools can point at, replaced atomically, so it always holds a whole checkpoint.

    A resumed run restores the previous best checkpoint's path (and score) from the checkpoint.
    When that path lies outside ``out_dir`` (a checkpoint of another run resumed into this work
    dir), MMEngine would delete the other run's best checkpoint at the next better score, and
    this folder would get no ``<stage>_best.pth`` until the other run's score is beaten: the
    path and its score are dropped instead, so this run keeps its own best. Whatever path
    MMEngine asks to remove, one outside ``out_dir`` is kept (with a warning).
    All arguments are CheckpointHook's.
    """

    @property
    def file_backend(self):
        return self._file_backend

    @file_backend.setter
    def file_backend(self, backend) -> None:  # set by CheckpointHook.before_train
        self._file_backend = _RemovesOnlyWithin(backend, self)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if getattr(self, 'best_ckpt_path', None) is not None:
            self.best_ckpt_path = self._own_best(runner, 'best_ckpt', 'best_score')
        for key in list(getattr(self, 'best_ckpt_path_dict', None) or {}):
            if self.best_ckpt_path_dict[key] is not None:
                self.best_ckpt_path_dict[key] = self._own_best(
                    runner, f'best_ckpt_{key}', f'best_score_{key}')

    def _own_best(self, runner, path_key: str, score_key: str):
        """The restored best checkpoint ``path_key`` if it lies in ``out_dir``; else None, with
        it and its score ``score_key`` removed from the message hub."""
        info = runner.message_hub.runtime_info
        path = info.get(path_key)
        if path is None or is_within(str(path), str(self.out_dir)):
            return path
        info.pop(path_key, None)
        info.pop(score_key, None)
        runner.logger.warning(f'the resumed checkpoint names {path} as its best checkpoint, '
                              f'outside {self.out_dir}: this run keeps its own best and never '
                              'removes that file')
        return None

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
