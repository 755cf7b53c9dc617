"""TorchScript CLIP archives are read as data, never executed (issue 21, item 1).

``torch.jit.load`` runs a module's TorchScript ``__setstate__`` while loading, and TorchScript
can write files; a CLIP weight path may come from a checkpoint's stored config. The reader must
give what ``torch.jit.load(...).state_dict()`` gave on real traced CLIP archives, and refuse a
hostile archive before anything of it runs.
"""
import importlib
import json
import pathlib
import sys
import warnings
import zipfile

import open_clip
import pytest
import torch

from spikeclip.apis import init_model
from spikeclip.models.clip import FrozenCLIP
from spikeclip.models.clip.frozen_clip import read_torchscript_weights
from spikeclip.models.clip.torchscript_archive import read_archive_weights
from spikeclip.models.stages.checkpoint_meta import save_model_file, stage_meta
from spikeclip.registry import MODELS
from spikeclip.testing import save_tiny_clip_archive
from spikeclip.utils.errors import CheckpointError

_EXTRAS = ('input_resolution', 'context_length', 'vocab_size')
TINY_VIT = 'test-tiny-vit'

# Scripted modules need their source in a file: written to a temporary folder and imported.
_SOURCE = '''
from typing import Dict, Tuple
import torch

WRITES_INTO = 'TARGET_DIR'


class Hostile(torch.nn.Module):
    """Writes TARGET when its archive is loaded with torch.jit.load (its __setstate__)."""

    def __init__(self, target: str):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(2))
        self.target = target
        self.written = 0

    def forward(self, x):
        return x * self.weight

    @torch.jit.export
    def __getstate__(self):
        return (self.weight, self.target, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, str, bool]):
        self.weight = state[0]
        self.target = state[1]
        self.training = state[2]
        out = torch.from_file(self.target, True, 6, dtype=torch.uint8)
        out.copy_(torch.tensor([112, 119, 110, 101, 100, 10], dtype=torch.uint8))
        self.written = int(out.sum())


class HostileDict(Hostile):
    """The same, with a state that is a plain dict (only the code text gives it away)."""

    @torch.jit.export
    def __getstate__(self):
        return {'weight': self.weight}

    @torch.jit.export
    def __setstate__(self, state: Dict[str, torch.Tensor]):
        self.weight = state['weight']
        self.target = 'TARGET_DIR/HostileDict.txt'
        self.training = False
        out = torch.from_file(self.target, True, 6, dtype=torch.uint8)
        out.copy_(torch.tensor([112, 119, 110, 101, 100, 10], dtype=torch.uint8))
        self.written = int(out.sum())


class Wrapper(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


class PlainAttribute(torch.nn.Module):
    """A parameter, a buffer and a plain tensor attribute (like OpenAI's attn_mask)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.arange(6.).view(2, 3))
        self.register_buffer('scale', torch.tensor([2.0, 3.0]))
        self.mask = torch.full((3, 3), -1.0)
        self.proj = torch.nn.Linear(3, 2, bias=False)

    def forward(self, x):
        return self.proj(x @ self.weight.t() @ self.mask[:2, :3] * self.scale[0])
'''


@pytest.fixture(scope='module')
def scripted(tmp_path_factory):
    folder = tmp_path_factory.mktemp('scripted_src')
    target_dir = tmp_path_factory.mktemp('targets')  # where the hostile archives write
    (folder / 'spikeclip_test_scripted.py').write_text(_SOURCE.replace('TARGET_DIR',
                                                                       str(target_dir)))
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module('spikeclip_test_scripted')
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop('spikeclip_test_scripted', None)


def _target_dir(scripted) -> pathlib.Path:
    return pathlib.Path(scripted.WRITES_INTO)


def _save(module, path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.jit.save(torch.jit.script(module), str(path))
    return str(path)


def _jit_state(path: str) -> dict:
    """What the loader before this fix read (torch.jit.load runs the archive)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return torch.jit.load(path, map_location='cpu').state_dict()


def _assert_same_state(new: dict, old: dict) -> None:
    assert list(new) == list(old)
    for key, value in old.items():
        assert new[key].dtype == value.dtype and new[key].shape == value.shape, key
        assert torch.equal(new[key], value), key


@pytest.fixture(scope='module')
def tiny_vit(tmp_path_factory):
    """A 2-layer ViT CLIP registered with open_clip (OpenAI's ViT archives' layout, tiny)."""
    folder = tmp_path_factory.mktemp('vit_cfg')
    (folder / f'{TINY_VIT}.json').write_text(json.dumps(dict(
        embed_dim=32,
        vision_cfg=dict(image_size=32, layers=2, width=64, patch_size=16, head_width=32),
        text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2))))
    open_clip.add_model_config(str(folder / f'{TINY_VIT}.json'))
    return TINY_VIT


@pytest.mark.parametrize('arch', ['spikeclip-tiny', TINY_VIT])
def test_reads_what_torch_jit_load_read_on_traced_fp16_clip_archives(arch, tiny_vit, tmp_path):
    archive = save_tiny_clip_archive(str(tmp_path / 'clip.pt'), seed=4, arch=arch)
    state, quick_gelu = read_torchscript_weights(archive)
    old = {k: v for k, v in _jit_state(archive).items() if k not in _EXTRAS}
    _assert_same_state(state, old)
    assert state['token_embedding.weight'].dtype == torch.float16  # as OpenAI's archives
    assert quick_gelu is True
    assert read_torchscript_weights(
        save_tiny_clip_archive(str(tmp_path / 'gelu.pt'), arch=arch, quick_gelu=False))[1] \
        is False
    clip = FrozenCLIP(arch, pretrained=archive)
    torch.testing.assert_close(clip.model.token_embedding.weight,
                               old['token_embedding.weight'].float(), rtol=0, atol=0)


def test_plain_tensor_attributes_are_not_weights(scripted, tmp_path):
    path = _save(scripted.PlainAttribute(), tmp_path / 'plain.pt')
    state, names = read_archive_weights(path)
    _assert_same_state(state, _jit_state(path))
    assert list(state) == ['weight', 'scale', 'proj.weight']  # no 'mask'
    assert names == {'PlainAttribute', 'Linear'}


@pytest.mark.parametrize('cls', ['Hostile', 'HostileDict'])
def test_a_hostile_archive_runs_nothing_and_is_refused(scripted, cls, tmp_path):
    target = _target_dir(scripted) / f'{cls}.txt'
    path = _save(scripted.Wrapper(getattr(scripted, cls)(str(target))), tmp_path / 'bad.pt')
    _jit_state(path)  # the archive is hostile: torch.jit.load writes the file
    assert target.read_bytes() == b'pwned\n'
    target.unlink()
    with pytest.raises(CheckpointError, match=r'bad\.pt.*(custom state|__setstate__)'):
        read_torchscript_weights(path)
    with pytest.raises(CheckpointError, match=r'bad\.pt'):
        FrozenCLIP('spikeclip-tiny', pretrained=path)
    assert not target.exists()


def test_a_stored_config_naming_a_hostile_archive_writes_nothing(scripted, tiny_clip_file,
                                                                 tmp_path):
    # The attack of issue 21: a checkpoint whose stored clip.pretrained names the archive.
    target = tmp_path / 'site-packages' / 'evil.pth'
    target.parent.mkdir()
    archive = _save(scripted.Wrapper(scripted.Hostile(str(target))), tmp_path / 'ViT-B-32.pt')
    model = MODELS.build(dict(
        type='CoarseModel', encoder=dict(type='TFP'), class_names=['cat', 'dog'],
        clip=dict(type='FrozenCLIP', arch='spikeclip-tiny', pretrained=tiny_clip_file)))
    cfg = model.export_cfg()
    cfg['clip']['pretrained'] = archive
    ckpt = str(tmp_path / 'coarse.pth')
    save_model_file(ckpt, model.state_dict(), stage_meta('coarse', cfg, model.class_names))
    with pytest.raises(CheckpointError) as error:
        init_model(ckpt, device='cpu')
    assert not target.exists()  # torch.jit.load wrote it here before failing
    assert 'ViT-B-32.pt: refused as a TorchScript weight archive' in str(error.value)


def _rewrite(src: str, dst, edit) -> str:
    """A copy of archive ``src`` whose members pass through ``edit(name, data) -> data``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(str(dst), 'w') as zout:
        for info in zin.infolist():
            zout.writestr(info, edit(info.filename, zin.read(info)))
    return str(dst)


def _edit_pickle(src: str, dst, old: bytes, new: bytes) -> str:
    def edit(name, data):
        if name.endswith('/data.pkl'):
            assert old in data
            return data.replace(old, new, 1)
        return data
    return _rewrite(src, dst, edit)


def test_hostile_headers_and_globals_are_refused_with_bounded_memory(scripted, tmp_path):
    path = _save(scripted.PlainAttribute(), tmp_path / 'plain.pt')
    # A storage that declares 2**30 floats (4 GiB) where its member holds 6: refused, nothing
    # allocated for the declared size.
    numel = _edit_pickle(path, tmp_path / 'numel.pt', b'cpuq\x06K\x06tQ',
                         b'cpuq\x06J\x00\x00\x00\x40tQ')
    with pytest.raises(CheckpointError, match=r'numel\.pt.*4294967296 stored bytes'):
        read_archive_weights(numel)
    # A tensor whose size reaches past its storage.
    oversize = _edit_pickle(path, tmp_path / 'oversize.pt', b'(K\x02K\x03t(K\x03K\x01t',
                            b'(K\x09K\x03t(K\x03K\x01t')
    with pytest.raises(CheckpointError, match=r'oversize\.pt.*reaches element 27'):
        read_archive_weights(oversize)
    # A global that is not part of a tensor is never resolved.
    named = _edit_pickle(path, tmp_path / 'global.pt', b'ccollections\nOrderedDict\n',
                         b'cposix\nsystem\n')
    with pytest.raises(CheckpointError, match=r'global\.pt.*posix\.system'):
        read_archive_weights(named)
    # Not an archive at all.
    (tmp_path / 'junk.pt').write_bytes(b'PK\x03\x04junk')
    with pytest.raises(CheckpointError, match=r'junk\.pt'):
        read_archive_weights(str(tmp_path / 'junk.pt'))
