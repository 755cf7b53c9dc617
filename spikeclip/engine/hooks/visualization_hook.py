"""Image grids of validation and test samples: TensorBoard, and PNG files with ``--show-dir``."""
import os.path as osp
from typing import Optional

from mmengine.hooks import Hook

from ...registry import HOOKS
from ...utils.atomic import atomic_write_json
from ...utils.errors import ConfigError
from ...visualization import SpikeVisualizer
from .utils import unwrapped_model


@HOOKS.register_module()
class SpikeVisualizationHook(Hook):
    """Shows spike count, TFP, coarse, refined and reference images side by side, through the
    runner's :class:`~spikeclip.visualization.SpikeVisualizer` (``visualizer`` in the config).

    During validation the first ``num_val_samples`` samples of every validation run go to the
    visualizer's back-ends (TensorBoard's IMAGES tab, step = training iteration). During testing,
    with ``show_dir`` set (``tools/test.py --show-dir``), every sample is saved as
    ``show_dir/<sample name>.png`` and the first ``num_test_samples`` also go to the back-ends;
    ``show_dir/captions.json`` maps each file to what its panels show.

    Args:
        num_val_samples (int): Validation samples shown per run. Defaults to 4.
        num_test_samples (int): Test samples sent to the back-ends. Defaults to 16.
        show_dir (str, optional): Folder for test grids; relative paths are under the work dir.
    """
    priority = 'NORMAL'

    def __init__(self, num_val_samples: int = 4, num_test_samples: int = 16,
                 show_dir: Optional[str] = None):
        self.num_val_samples = num_val_samples
        self.num_test_samples = num_test_samples
        self.show_dir = show_dir
        self._seen = 0
        self._captions = {}

    def before_run(self, runner) -> None:
        """Raises:
            ConfigError: The runner's visualizer is not a ``SpikeVisualizer``."""
        if not isinstance(runner.visualizer, SpikeVisualizer):
            raise ConfigError(f"SpikeVisualizationHook draws through visualizer=dict("
                              f"type='SpikeVisualizer'), but the runner's visualizer is a "
                              f'{type(runner.visualizer).__name__}')

    def _class_names(self, runner):
        return getattr(unwrapped_model(runner), 'class_names', None)

    def before_val_epoch(self, runner) -> None:
        self._seen = 0

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self._seen >= self.num_val_samples or runner.rank != 0:
            return
        for spikes, sample in zip(data_batch['inputs'], outputs):
            if self._seen >= self.num_val_samples:
                break
            runner.visualizer.add_datasample(f'val/sample_{self._seen}', spikes, sample,
                                             step=runner.iter,
                                             class_names=self._class_names(runner))
            self._seen += 1

    def before_test_epoch(self, runner) -> None:
        self._seen = 0
        self._captions = {}

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.rank != 0:
            return
        for spikes, sample in zip(data_batch['inputs'], outputs):
            name = _sample_name(sample, self._seen)
            out_file = osp.join(self._show_path(runner), f'{name}.png') if self.show_dir \
                else None
            to_backends = self._seen < self.num_test_samples
            if out_file or to_backends:
                _, caption = runner.visualizer.add_datasample(
                    f'test/{name}', spikes, sample, step=self._seen,
                    class_names=self._class_names(runner), to_backends=to_backends,
                    out_file=out_file)
                if out_file:
                    self._captions[f'{name}.png'] = caption
            self._seen += 1

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self.show_dir and self._captions and runner.rank == 0:
            atomic_write_json(osp.join(self._show_path(runner), 'captions.json'), self._captions)

    def _show_path(self, runner) -> str:
        return osp.join(runner.work_dir, self.show_dir)  # join keeps an absolute show_dir


_KNOWN_EXTENSIONS = ('.dat', '.npz', '.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')


def _sample_name(sample, index: int) -> str:
    """``<index>_<file stem>`` (or the whole source name if it has no file extension)."""
    for key in ('spike_path', 'img_path'):
        path = sample.get(key)
        if path:
            name = osp.basename(str(path))
            stem, ext = osp.splitext(name)
            return f'{index:05d}_{stem if ext.lower() in _KNOWN_EXTENSIONS else name}'
    return f'{index:05d}'
