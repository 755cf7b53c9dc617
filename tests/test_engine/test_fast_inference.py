"""Fast inference settings: precision/layout resolution, fp32 parts, closeness to fp32."""
import copy
import json
import platform

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from PIL import Image
from torch import nn

from spikeclip.apis import infer_files, init_model
from spikeclip.engine import fast_inference
from spikeclip.engine.fast_inference import (
    cached_prompt_features,
    keep_fp32,
    prepare_for_inference,
    resolve_amp,
    resolve_channels_last,
    retain_freed_memory,
    to_float32,
)
from spikeclip.fileio import write_dat
from spikeclip.models.encoders import LRN, SpikingUNet
from spikeclip.models.refiners.unet import UNetRefiner
from spikeclip.models.stages import SpikeCLIP
from spikeclip.simulation import simulate_spikes
from spikeclip.structures import SpikeDataSample
from spikeclip.utils.atomic import atomic_torch_save
from spikeclip.utils.errors import ConfigError


def tiny_pipeline_checkpoint(path: str, clip_file: str) -> str:
    """A combined-model file with a small LRN (8 frames) and UNet refiner, weights perturbed so
    that neither is the identity/TFP it starts as."""
    with DefaultScope.overwrite_default_scope('spikeclip'):
        model = SpikeCLIP(
            refiner=dict(type='UNetRefiner', base_channels=8, num_levels=2),
            clip=dict(type='FrozenCLIP', arch='spikeclip-tiny', pretrained=clip_file),
            parts=dict(encoder=dict(type='LRN', window=8, bin_size=2, channels=(8, 8)),
                       hq_lq=dict(type='HQLQPromptLearner'),
                       class_prompt=dict(type='ClassPromptLearner', num_ctx=4)),
            class_names=['cat', 'dog', 'moon'],
            data_preprocessor=dict(type='SpikeDataPreprocessor', window=8))
    perturb(model.encoder, 0.02)
    perturb(model.refiner, 0.02)
    atomic_torch_save({'state_dict': model.state_dict(),
                       'meta': {'spikeclip': {'stage': 'pipeline', 'model': model.export_cfg()}}},
                      path)
    return path


@torch.no_grad()
def perturb(module: nn.Module, std: float, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        p.add_(torch.randn(p.shape, generator=gen) * std)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return 10 * np.log10(1 / max(mse, 1e-20))


@pytest.fixture(scope='module')
def pipeline_file(tmp_path_factory, tiny_clip_file):
    return tiny_pipeline_checkpoint(str(tmp_path_factory.mktemp('ckpt') / 'pipe.pth'),
                                    tiny_clip_file)


@pytest.fixture(scope='module')
def spikes():
    gen = torch.Generator().manual_seed(0)
    scene = torch.rand(2, 1, 30, 42, generator=gen)
    return (torch.rand(2, 8, 30, 42, generator=gen) < scene * 0.5).float()


def test_resolve_amp_and_channels_last(monkeypatch):
    assert resolve_amp('none', 'cpu') is None
    assert resolve_amp('bf16', 'cpu') is torch.bfloat16
    assert resolve_amp('fp16', 'cuda') is torch.float16
    monkeypatch.setattr(fast_inference, 'native_bf16', lambda device: False)
    assert resolve_amp('auto', 'cpu') is None
    monkeypatch.setattr(fast_inference, 'native_bf16', lambda device: True)
    assert resolve_amp('auto', 'cpu') is torch.bfloat16
    with pytest.raises(ConfigError, match='amp must be one of'):
        resolve_amp('int8', 'cpu')
    assert resolve_channels_last('auto', torch.bfloat16) is True
    assert resolve_channels_last('auto', None) is False  # fp32 stays bit-exact
    assert resolve_channels_last(True, None) is True
    with pytest.raises(ConfigError, match='channels_last'):
        resolve_channels_last('yes', None)


def test_native_bf16_follows_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(torch.cpu, '_is_amx_tile_supported', lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, '_is_avx512_bf16_supported', lambda: False, raising=False)
    assert fast_inference.native_bf16('cpu') is False
    monkeypatch.setattr(torch.cpu, '_is_avx512_bf16_supported', lambda: True, raising=False)
    assert fast_inference.native_bf16('cpu') is True


def test_amp_none_is_exactly_the_fp32_model(pipeline_file, spikes):
    plain = init_model(pipeline_file, device='cpu')
    with torch.no_grad():
        ref_refined, ref_coarse = plain(spikes, mode='tensor')
    model, ctx = prepare_for_inference(copy.deepcopy(plain), 'cpu', amp='none')
    assert ctx.dtype is None and ctx.channels_last is False
    with ctx:
        refined, coarse = to_float32(model(spikes, mode='tensor'))
    assert torch.equal(refined, ref_refined) and torch.equal(coarse, ref_coarse)


@pytest.mark.parametrize('channels_last', [False, True])
def test_bf16_output_is_float32_in_unit_range_and_close_to_fp32(pipeline_file, spikes,
                                                                 channels_last):
    plain = init_model(pipeline_file, device='cpu')
    with torch.no_grad():
        ref_refined, ref_coarse = plain(spikes, mode='tensor')
    assert ref_coarse.std() > 0.05  # a non-trivial image, not all 0 or 1
    model, ctx = prepare_for_inference(plain, 'cpu', amp='bf16', channels_last=channels_last)
    with ctx:
        refined, coarse = to_float32(model(spikes, mode='tensor'))
    for out, ref in ((coarse, ref_coarse), (refined, ref_refined)):
        assert out.dtype == torch.float32 and out.shape == ref.shape
        assert 0 <= float(out.min()) and float(out.max()) <= 1
        assert (out - ref).abs().max() < 0.03
        assert psnr(out, ref) > 40
    assert not torch.equal(coarse, ref_coarse)  # bf16 really ran


def test_image_heads_and_opted_out_parts_run_in_fp32():

    class NoBF16(nn.Module):
        supports_bf16 = False

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return self.conv(x)

    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), NoBF16(), nn.Conv2d(4, 1, 3, padding=1))
    keys = list(net.state_dict())
    net, ctx = prepare_for_inference(net, 'cpu', amp='bf16')
    assert ctx.fp32_parts == ['1', '2']
    assert list(net.state_dict()) == keys
    seen = {}
    for name, m in net.named_children():
        m.register_forward_hook(lambda mod, a, out, name=name: seen.__setitem__(name, out.dtype))
    with ctx:
        out = net(torch.rand(1, 1, 8, 8))
    assert seen == {'0': torch.bfloat16, '1': torch.float32, '2': torch.float32}
    assert out.dtype == torch.float32
    assert torch.is_autocast_enabled('cpu') is False  # the context restored the state
    with ctx:  # the context is reusable, and deep copies keep the behaviour
        assert copy.deepcopy(net)(torch.rand(1, 1, 8, 8)).dtype == torch.float32
    cls = type(net[2])
    keep_fp32(net[2])  # a second call changes nothing
    assert type(net[2]) is cls and isinstance(net[2], nn.Conv2d)
    assert type(net[2]).__name__ == 'Conv2d'
    seen.clear()
    with ctx:  # still kept in fp32, and the first convolution still is not
        net(torch.rand(1, 1, 8, 8))
    assert seen == {'0': torch.bfloat16, '1': torch.float32, '2': torch.float32}


def test_part_defaults_keep_the_spiking_unet_contiguous():
    net = nn.ModuleDict(dict(snn=SpikingUNet(window=8, num_bins=4, channels=(4, 8)),
                             refiner=UNetRefiner(base_channels=4, num_levels=1)))
    net, ctx = prepare_for_inference(net, 'cpu', amp='bf16')
    assert ctx.channels_last and ctx.contiguous_parts == ['snn']
    assert all(p.is_contiguous() for p in net['snn'].parameters())
    weight = net['refiner'].encoders[0][0].weight  # 4 -> 4 channels: the layouts differ
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()


def test_to_float32_casts_nested_outputs_and_data_samples():
    sample = SpikeDataSample(pred_img=torch.ones(1, 2, 2, dtype=torch.bfloat16))
    sample.set_metainfo(dict(label_name='cat'))
    out = to_float32([sample, (torch.zeros(1, dtype=torch.float16), torch.ones(1).long())])
    assert out[0].pred_img.dtype == torch.float32 and out[0].label_name == 'cat'
    assert out[1][0].dtype == torch.float32 and out[1][1].dtype == torch.int64


def test_infer_files_fast_path_is_close_to_fp32(pipeline_file, tmp_path):
    rng = np.random.default_rng(0)
    write_dat(str(tmp_path / 'a.dat'), simulate_spikes(rng.random((30, 42)), 12, gain=0.5, seed=1))
    args = ([str(tmp_path / 'a.dat')], )
    fp32 = infer_files(init_model(pipeline_file, device='cpu'), *args, str(tmp_path / 'fp32'),
                       height=30, width=42, save_coarse=True, amp='none')
    fast = infer_files(init_model(pipeline_file, device='cpu'), *args, str(tmp_path / 'bf16'),
                       height=30, width=42, save_coarse=True, amp='bf16')
    for key in ('image', 'coarse'):
        a = np.asarray(Image.open(fp32[0][key]), dtype=np.int16)
        b = np.asarray(Image.open(fast[0][key]), dtype=np.int16)
        assert a.shape == (30, 42) and np.abs(a - b).max() <= 4
    assert len(fast[0]['topk']) == 3
    assert json.loads((tmp_path / 'bf16' / 'predictions.json').read_text()) == fast


def test_auto_settings_keep_an_lrn_close_to_fp32():
    """'auto' (whatever it resolves to on this machine) keeps a perturbed LRN close to fp32."""
    lrn = LRN(window=8, bin_size=2, channels=(8, 8))
    perturb(lrn, 0.05)
    x = (torch.rand(1, 8, 20, 24) < 0.4).float()
    with torch.no_grad():
        ref = lrn(x)
    lrn, ctx = prepare_for_inference(lrn, 'cpu')
    with ctx:
        out = to_float32(lrn(x))
    assert out.dtype == torch.float32 and (out - ref).abs().max() < 0.03


def test_cached_prompt_features_run_the_text_encoder_once(pipeline_file, spikes):
    model = init_model(pipeline_file, device='cpu')
    with torch.no_grad():
        expected = model(spikes, mode='predict')
    calls = []
    model.clip.model.transformer.register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad(), cached_prompt_features(model):
        n_setup = len(calls)
        got = [model(spikes, mode='predict') for _ in range(3)][-1]
    assert n_setup == 2 and len(calls) == n_setup  # hq_lq and class prompts, once each
    for e, g in zip(expected, got):
        assert torch.equal(e.pred_score, g.pred_score) and torch.equal(e.pred_img, g.pred_img)
    assert 'forward' not in model.class_prompt.__dict__  # restored on exit
    model(spikes[:1], mode='predict')
    assert len(calls) > n_setup


def test_retain_freed_memory_is_idempotent():
    from spikeclip.engine.fast_inference import malloc_tuned
    first = retain_freed_memory()
    assert retain_freed_memory() == first == malloc_tuned()
    if platform.system() == 'Linux' and platform.libc_ver()[0] == 'glibc':
        assert first is True
