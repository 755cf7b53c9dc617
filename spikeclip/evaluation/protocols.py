"""Evaluation protocols of ``tools/test.py --protocol``: ``'ours'`` (the config as it is, the
default) and ``'official'`` (the official SpikeCLIP evaluation, docs/official.md).

The official protocol is that of ``evaluate.py`` in the SpikeCLIP repository (chenkang455/
SpikeCLIP, with its ``dataset.py`` and ``models.py``): one LRN's output, zero-shot CLIP ViT-B/32
with the hand-written prompts ``'image of a ' + label`` (the raw class names), CLIP's mean/std
turned into one grey mean/std with the BT.601 luma weights, all 200 frames of each test
recording summed in 50 bins of 4, the 224 x 224 crop ``[13:237, 13:237]``, no resize, top-1
accuracy, NIQE and BRISQUE of the reconstruction.
"""
import copy
import logging
from typing import List, Optional

from mmengine.config import Config
from mmengine.logging import print_log

from ..models.stages.base import load_stage_checkpoint
from ..registry import DATASETS, METRICS
from ..utils.errors import ConfigError

PROTOCOLS = ('ours', 'official')

OFFICIAL_PROTOCOL = dict(
    prompt_template='image of a {}',  # evaluate.py: 'image of a ' + prompt for prompt in labels
    normalize='grey',  # evaluate.py: gray_mean, gray_std from the luma weights (0.299, ...)
    crop_size=224,  # dataset.py: spk[:, 13:237, 13:237]
    window=200,  # the whole [200, 250, 250] recording
    bin_size=4,  # evaluate.py: torch.sum(spike.reshape(-1, 50, 4, 224, 224), axis=2)
    clip=dict(type='FrozenCLIP', arch='ViT-B-32', pretrained='openai'),  # clip.load('ViT-B/32')
    metrics=[dict(type='Accuracy', topk=(1, )), dict(type='NIQE'), dict(type='BRISQUE')],
)

NO_REFERENCE_METRICS = ('NIQE', 'BRISQUE')


def _official_model_options(stored: dict, checkpoint: str, user: dict) -> dict:
    """``--cfg-options`` (``model.*``) that turn a stage-1 model config into the official
    protocol's; the user's own ``model.*`` options are applied last."""
    p = OFFICIAL_PROTOCOL
    enc = stored.get('encoder') or {}
    window = enc.get('window', enc.get('in_frames', 200))
    if enc.get('type') != 'LRN' or window != p['window'] or enc.get('bin_size', 4) != p['bin_size']:
        raise ConfigError(
            f'--protocol official evaluates an LRN on {p["window"]} frames in bins of '
            f'{p["bin_size"]}; {checkpoint} holds encoder {enc.get("type")!r} (window={window}, '
            f'bin_size={enc.get("bin_size")})')
    options = {
        'model.prompt_template': p['prompt_template'],
        'model.prompt_names': None,  # the raw class names, as the official labels list
        # A stage-1 model has no learned prompts; the official normalisation may differ from
        # the one it was trained with, which its recorded CLIP identity would refuse.
        'model.clip_identity': None,
        'model.data_preprocessor': dict(type='SpikeDataPreprocessor', window=p['window']),
    }
    user = dict(user)
    if isinstance(stored.get('clip'), dict):
        options['model.clip.normalize'] = p['normalize']
    else:  # a stage-1 model trained without CLIP: the official one
        clip = dict(p['clip'], normalize=p['normalize'])
        for key in [k for k in user if k.startswith('model.clip.')]:
            clip[key[len('model.clip.'):]] = user.pop(key)
        options['model.clip'] = clip
    options.update(user)
    return options


def official_protocol(cfg: Config, checkpoint: Optional[str],
                      cfg_options: Optional[dict] = None) -> Config:
    """``cfg`` set up for the official SpikeCLIP evaluation of a stage-1 checkpoint.

    The model is rebuilt from the checkpoint's stored config with the protocol's prompt
    template, raw class names and grey normalisation; the test set (a :class:`UHSRDataset`
    of ``cfg``) is read whole (200 frames, 224 crop); the metrics are top-1 accuracy, NIQE and
    BRISQUE. ``model.*`` entries of ``cfg_options`` still apply (e.g. the CLIP weights' file).

    Args:
        cfg (Config): A config whose ``test_dataloader`` reads U-CALTECH or U-CIFAR
            (``configs/pipeline_ucaltech.py``, ``configs/coarse_ucifar.py``, ...).
        checkpoint (str): A stage-1 checkpoint of an LRN, e.g. the output of
            ``tools/model_converters/official_spikeclip.py``.
        cfg_options (dict, optional): The ``--cfg-options`` given.

    Raises:
        ConfigError: No checkpoint, another encoder, or a test set that is not U-CALTECH/U-CIFAR.
        CheckpointError: Not a stage-1 checkpoint.
    """
    p = OFFICIAL_PROTOCOL
    if not checkpoint:
        raise ConfigError('--protocol official evaluates a stage-1 (LRN) checkpoint; give one '
                          '(coarse_best.pth, or an official file converted by '
                          'tools/model_converters/official_spikeclip.py)')
    dataset = cfg.test_dataloader.dataset
    if dataset.get('type') != 'UHSRDataset':
        raise ConfigError(f'--protocol official is defined on U-CALTECH / U-CIFAR (UHSRDataset); '
                          f'the test set of {getattr(cfg, "filename", "the config")} is a '
                          f'{dataset.get("type")!r}')
    stored, _ = load_stage_checkpoint(checkpoint, 'coarse')
    user = {k: v for k, v in (cfg_options or {}).items() if k.startswith('model.')}
    options = _official_model_options(stored, checkpoint, user)
    cfg.model = load_stage_checkpoint(checkpoint, 'coarse', resolve=True, cfg_options=options)[0]
    dataset.update(split='test', crop_size=p['crop_size'], window=p['window'])
    cfg.test_evaluator = copy.deepcopy(p['metrics'])
    return cfg


def add_no_reference_metrics(cfg: Config) -> List[str]:
    """Add NIQE and BRISQUE to ``cfg.test_evaluator`` when its test set has no reference images
    (a dataset class with ``has_references = False``, e.g. U-CALTECH); returns those added.
    One whose model file is not installed is left out with a warning."""
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    cls = DATASETS.get(dataset.get('type')) if isinstance(dataset.get('type'), str) else None
    if cls is None or getattr(cls, 'has_references', True):
        return []
    evaluator = cfg.get('test_evaluator') or []
    metrics = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
    present = {m.get('type') for m in metrics if isinstance(m, dict)}
    added = []
    for name in NO_REFERENCE_METRICS:
        if name in present:
            continue
        try:
            METRICS.build(dict(type=name))  # reads its model file: is it installed?
        except ConfigError as e:  # an extra the user did not ask for: say so, do not fail
            print_log(f'{name} left out: {e}', logger='current', level=logging.WARNING)
            continue
        added.append(name)
    cfg.test_evaluator = metrics + [dict(type=name) for name in added]
    return added
