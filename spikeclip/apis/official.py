"""The official SpikeCLIP weights (``LRN_CALTECH.pth`` and the other LRN files of
chenkang455/SpikeCLIP) as stage-1 checkpoints of this toolkit.

The official LRN (``models.py``: ``LRN(inDim=50, outDim=1)``) is an ``nn.Sequential`` of four
``nn.Sequential(conv3x3, ReLU)`` blocks and a last conv3x3, without normalisation layers; its
state dict keys are ``0.0.weight`` ... ``3.0.bias``, ``4.weight``, ``4.bias``. Ours
(:class:`~spikeclip.models.encoders.LRN`) is one ``nn.Sequential`` ``body`` of convs and ReLUs:
``body.0``, ``body.2``, ``body.4``, ``body.6``, ``body.8``.

Input: the official evaluation feeds the convolution the spike *counts* of 50 bins of 4
consecutive frames (``torch.sum(spike.reshape(-1, 50, 4, 224, 224), axis=2)``, values 0-4); our
LRN takes the raw ``[N, 200, H, W]`` frames and bins them into *rates* (count / 4, in [0, 1]) in
the same order (bin k = frames 4k..4k+3). With ``count = 4 * rate`` the first convolution gives
``W * count + b = (4 W) * rate + b``: its weight is multiplied by the bin size, its bias and every
later layer stay as they are, and the outputs are equal.

Output: the official network's last conv is not clamped (its raw value goes to CLIP and to the
metrics); ours clamps to [0, 1] by default. The conversion keeps the official behaviour
(``clamp=False``) unless asked.
"""
import hashlib
import os.path as osp
import re
from typing import Dict, Optional, Tuple

import torch

from ..evaluation.protocols import OFFICIAL_PROTOCOL
from ..models.stages.base import load_stage_checkpoint
from ..models.stages.checkpoint_meta import save_model_file, stage_meta
from ..models.stages.coarse import CoarseModel
from ..utils.checkpoint import load_checkpoint_file, load_weights
from ..utils.env import collect_env
from ..utils.errors import CheckpointError

_BLOCK = re.compile(r'^(\d+)\.0\.(weight|bias)$')  # conv of a (conv, ReLU) block
_LAST = re.compile(r'^(\d+)\.(weight|bias)$')  # the last conv


def convert_official_lrn(state: Dict[str, torch.Tensor], source: str, bin_size: int = 4,
                         clamp: bool = False) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Our LRN's state dict and encoder config from an official LRN state dict.

    Args:
        state (dict): The official state dict (a ``state_dict`` entry and the ``module.`` prefix
            of ``nn.DataParallel`` are accepted too).
        source (str): Its file, for messages.
        bin_size (int): Frames summed per input channel by the official evaluation.
            Defaults to 4.
        clamp (bool): Clamp the output to [0, 1] as our LRN does by default; False keeps the
            official, unclamped output. Defaults to False.

    Returns:
        tuple: ``(state dict with body.* keys, LRN config)``.

    Raises:
        CheckpointError: Keys or shapes that are not the official LRN's.
    """
    if isinstance(state.get('state_dict'), dict):
        state = state['state_dict']
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    blocks, last, other = {}, {}, []
    for key, value in state.items():
        block, tail = _BLOCK.match(key), _LAST.match(key)
        if block and torch.is_tensor(value):
            blocks.setdefault(int(block.group(1)), {})[block.group(2)] = value
        elif tail and torch.is_tensor(value):
            last.setdefault(int(tail.group(1)), {})[tail.group(2)] = value
        else:
            other.append(key)
    n = len(blocks)
    if other or sorted(blocks) != list(range(n)) or list(last) != [n] or n < 1:
        found = ', '.join(sorted(state)[:8]) + (' ...' if len(state) > 8 else '')
        why = f' (normalisation layers? {", ".join(other[:4])})' if other else ''
        raise CheckpointError(
            f'{source} is not an official SpikeCLIP LRN state dict{why}: expected keys 0.0.weight '
            f'... {n - 1}.0.bias, {n}.weight, {n}.bias of LRN(norm="none"); found {found}')
    convs = [blocks[i] for i in range(n)] + [last[n]]
    for i, conv in enumerate(convs):
        w, b = conv.get('weight'), conv.get('bias')
        prev = convs[i - 1]['weight'].shape[0] if i else None
        if (w is None or b is None or w.ndim != 4 or tuple(w.shape[2:]) != (3, 3)
                or b.shape != (w.shape[0], ) or (prev is not None and w.shape[1] != prev)):
            raise CheckpointError(f'{source}: layer {i} is not a 3x3 convolution that fits the '
                                  f'previous one (weight {None if w is None else tuple(w.shape)})')
    if convs[-1]['weight'].shape[0] != 1:
        raise CheckpointError(f'{source}: the last layer has {convs[-1]["weight"].shape[0]} '
                              'outputs; the LRN reconstructs one grey channel')
    ours = {}
    for i, conv in enumerate(convs):
        scale = float(bin_size) if i == 0 else 1.0  # counts (official) -> rates (ours)
        ours[f'body.{2 * i}.weight'] = conv['weight'].float() * scale
        ours[f'body.{2 * i}.bias'] = conv['bias'].float().clone()
    bins = convs[0]['weight'].shape[1]
    encoder = dict(type='LRN', window=bins * bin_size, bin_size=bin_size,
                   channels=[c['weight'].shape[0] for c in convs[:-1]], init_gain=None,
                   clamp=clamp)
    return ours, encoder


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def convert_official_checkpoint(src: str, out: str, classes: str = 'ucaltech',
                                clamp: bool = False, clip: Optional[dict] = None,
                                with_clip: bool = True) -> dict:
    """Write an official SpikeCLIP LRN file as a stage-1 checkpoint of ours.

    The stored model is a :class:`CoarseModel` with the converted LRN, the class list, the
    official prompt template ``'image of a {}'`` on the raw class names, the 224 classification
    crop and, unless ``with_clip=False``, the official CLIP (ViT-B/32, OpenAI weights) with grey
    normalisation, so that ``tools/infer.py`` and ``tools/test.py`` (``--protocol official``)
    take it as it is.

    Args:
        src (str): The official ``.pth`` (read with ``weights_only=True``).
        out (str): The checkpoint to write (atomically).
        classes (str): Class list: ``'ucaltech'`` or ``'ucifar'`` (or a file). Defaults to
            ``'ucaltech'``.
        clamp (bool): Clamp the output to [0, 1] (ours); the official model does not.
            Defaults to False.
        clip (dict, optional): Another FrozenCLIP config. Defaults to the official one.
        with_clip (bool): Store a CLIP (class scores); False stores images only.
            Defaults to True.

    Returns:
        dict: The ``meta.spikeclip`` entry written.

    Raises:
        CheckpointError: ``src`` is not an official LRN state dict.
    """
    p = OFFICIAL_PROTOCOL
    state, encoder = convert_official_lrn(load_checkpoint_file(src), src, p['bin_size'], clamp)
    model = CoarseModel(encoder=encoder, class_names=classes,
                        prompt_template=p['prompt_template'], classify_crop=p['crop_size'],
                        data_preprocessor=dict(type='SpikeDataPreprocessor',
                                               window=encoder['window']))
    load_weights(model.encoder, state, src, 'the LRN')
    cfg = model.export_cfg()
    if with_clip:
        cfg['clip'] = dict(clip or p['clip'])
        cfg['clip'].setdefault('normalize', p['normalize'])
    provenance = dict(converted_from=osp.abspath(src), sha256=_sha256(src),
                      converter='tools/model_converters/official_spikeclip.py',
                      first_conv_scale=p['bin_size'], clamp=clamp,
                      protocol='docs/official.md')
    info = stage_meta('coarse', cfg, model.class_names, sources=dict(official=osp.abspath(src)),
                      env=collect_env(), provenance=provenance)
    save_model_file(out, model.state_dict(), info)
    load_stage_checkpoint(out, 'coarse')  # the stored-config check of every loader
    return info
