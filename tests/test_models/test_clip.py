import copy
import hashlib
import math
import os
import warnings

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from PIL import Image

from spikeclip.models.clip import FrozenCLIP, resolve_pretrained, save_tiny_clip
from spikeclip.models.clip.frozen_clip import read_torchscript_weights
from spikeclip.registry import MODELS
from spikeclip.testing import save_tiny_clip_archive
from spikeclip.utils.errors import CheckpointError, ConfigError


def test_tiny_clip_features(tiny_clip):
    clip = tiny_clip
    assert clip.embed_dim == 64 and clip.image_size == (64, 64) and clip.width == 64
    for img in (torch.rand(3, 1, 45, 71), torch.rand(2, 3, 32, 32)):
        f = clip.encode_image(img)
        assert f.shape == (len(img), 64)
        torch.testing.assert_close(f.norm(dim=-1), torch.ones(len(img)))
    t = clip.encode_text(['a photo of a cat.', 'high quality', 'low quality'])
    assert t.shape == (3, 64)
    torch.testing.assert_close(t.norm(dim=-1), torch.ones(3))
    assert clip.tokenize(['cat']).dtype == torch.long
    assert clip.tokenize(['cat']).shape == (1, 77)
    assert float(clip.logit_scale) == pytest.approx(1 / 0.07, rel=1e-5)  # open_clip's init


def test_grey_image_is_repeated_to_rgb(tiny_clip):
    grey = torch.rand(2, 1, 32, 32)
    torch.testing.assert_close(tiny_clip.encode_image(grey),
                               tiny_clip.encode_image(grey.repeat(1, 3, 1, 1)))
    with pytest.raises(ValueError, match=r'\[N, 1 or 3, H, W\]'):
        tiny_clip.encode_image(torch.rand(2, 2, 32, 32))


def test_frozen_eval_and_gradient_reaches_input(tiny_clip_path):
    clip = FrozenCLIP(arch='spikeclip-tiny', pretrained=tiny_clip_path)
    assert all(not p.requires_grad for p in clip.parameters())
    clip.train()
    assert not clip.training and not any(m.training for m in clip.modules())
    img = torch.rand(2, 1, 40, 50, requires_grad=True)
    (clip.encode_image(img) @ clip.encode_text(['a cat']).t()).sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0
    assert all(p.grad is None for p in clip.parameters())


def test_weights_come_from_the_file(tiny_clip_path, tmp_path):
    img = torch.rand(2, 1, 32, 32)
    a = FrozenCLIP('spikeclip-tiny', tiny_clip_path).encode_image(img)
    b = MODELS.build(dict(type='FrozenCLIP', arch='spikeclip-tiny',
                          pretrained=tiny_clip_path)).encode_image(img)
    other = save_tiny_clip(str(tmp_path / 'other.pth'), seed=1)
    c = FrozenCLIP('spikeclip-tiny', other).encode_image(img)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_random_init_when_pretrained_is_none():
    clip = FrozenCLIP('spikeclip-tiny', pretrained=None)
    assert clip.encode_text(['x']).shape == (1, 64)


@pytest.mark.parametrize('name', ['missing.pth', 'sub/dir/weights', 'clip.safetensors'])
def test_missing_local_file_is_an_error_naming_it(tmp_path, name):
    path = name if '/' not in name else str(tmp_path / name)
    with pytest.raises(CheckpointError, match=os.path.basename(name)):
        FrozenCLIP('spikeclip-tiny', pretrained=path)


def test_unreadable_file_is_a_checkpoint_error(tmp_path):
    bad = tmp_path / 'broken.pth'
    bad.write_bytes(b'not a checkpoint')
    with pytest.raises(CheckpointError, match='broken.pth'):
        FrozenCLIP('spikeclip-tiny', pretrained=str(bad))


def test_named_tag_offline_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(CheckpointError) as err:
        FrozenCLIP('ViT-B-32', pretrained='openai', cache_dir=str(tmp_path))
    msg = str(err.value)
    assert "'ViT-B-32'" in msg and "'openai'" in msg and 'HF_HUB_OFFLINE' in msg
    assert "open_clip.create_model('ViT-B-32', pretrained='openai'" in msg
    assert 'pretrained=' in msg and 'local' in msg


def test_unknown_tag_and_unknown_arch():
    with pytest.raises(CheckpointError, match='laion2b_s34b_b79k'):  # lists the real tags
        FrozenCLIP('ViT-B-32', pretrained='no_such_tag')
    with pytest.raises(CheckpointError, match="tags of 'spikeclip-tiny'"):
        FrozenCLIP('spikeclip-tiny', pretrained='openai')
    with pytest.raises(ConfigError, match=r'ViT-B-32.*open_clip.list_models'):
        FrozenCLIP('ViT-Q-99', pretrained=None)


def _register_tag(monkeypatch, arch: str, tag: str, archive: str) -> str:
    """Register ``tag`` for ``arch`` the way open_clip lists OpenAI's weights: a URL that carries
    the file's SHA-256, with QuickGELU; returns the URL."""
    sha = hashlib.sha256(open(archive, 'rb').read()).hexdigest()
    url = f'https://openaipublic.azureedge.net/clip/models/{sha}/{arch}.pt'
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, arch,
                        {tag: dict(url=url, quick_gelu=True)})
    return url


def test_cached_openai_archive_resolves_and_loads_without_network(monkeypatch, tmp_path):
    # OpenAI's clip.load (and open_clip's URL download) cache a TorchScript archive under
    # <cache_dir>/<basename of the URL>; a real archive of the tiny CLIP stands in for it.
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    cache = tmp_path / 'cache'
    archive = save_tiny_clip_archive(str(cache / 'spikeclip-tiny.pt'), seed=3)
    _register_tag(monkeypatch, 'spikeclip-tiny', 'openai', archive)
    path, extra = resolve_pretrained('spikeclip-tiny', 'openai', cache_dir=str(cache))
    assert path == archive and extra['quick_gelu'] is True
    clip = FrozenCLIP('spikeclip-tiny', pretrained='openai', cache_dir=str(cache))
    assert clip.quick_gelu and clip.weights_file == archive
    state = read_torchscript_weights(archive)[0]
    torch.testing.assert_close(clip.model.token_embedding.weight,
                               state['token_embedding.weight'].float())
    # A cached file that is not the published one (open_clip's SHA-256 check) is refused
    # instead of being loaded or silently downloaded again.
    with open(archive, 'ab') as f:
        f.write(b'x')
    with pytest.raises(CheckpointError, match='SHA-256 differs'):
        resolve_pretrained('spikeclip-tiny', 'openai', cache_dir=str(cache))


def test_a_fresh_download_of_an_archive_loads(monkeypatch, tmp_path):
    # On a networked machine open_clip's download may hand back OpenAI's TorchScript archive
    # (its URL route); open_clip alone cannot load that with weights_only=True.
    import spikeclip.models.clip.frozen_clip as fc
    monkeypatch.delenv('HF_HUB_OFFLINE', raising=False)
    monkeypatch.setattr(fc, '_host_unreachable', lambda host: False)
    source = save_tiny_clip_archive(str(tmp_path / 'published.pt'), seed=2)
    _register_tag(monkeypatch, 'spikeclip-tiny', 'openai', source)
    calls = []

    def download(cfg, cache_dir=None, **kwargs):  # open_clip's download, without the network
        calls.append(cfg['url'])
        return source
    monkeypatch.setattr(fc, 'download_pretrained', download)
    clip = FrozenCLIP('spikeclip-tiny', 'openai', cache_dir=str(tmp_path / 'empty_cache'))
    assert calls and clip.quick_gelu and clip.weights_file == source


def test_torchscript_archive_gives_the_features_of_the_same_weights_as_a_state_dict(tmp_path):
    archive = save_tiny_clip_archive(str(tmp_path / 'ViT-tiny.pt'), seed=1)
    with pytest.raises(Exception, match='TorchScript'), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.load(archive, weights_only=True)  # what open_clip alone does with it
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        raw = torch.jit.load(archive).state_dict()
    state = {k: v.float() for k, v in raw.items()
             if k not in ('input_resolution', 'context_length', 'vocab_size', 'attn_mask')}
    torch.save(state, tmp_path / 'same_weights.pth')
    from_archive = FrozenCLIP('spikeclip-tiny', pretrained=archive)  # QuickGELU read from it
    from_state = FrozenCLIP('spikeclip-tiny', pretrained=str(tmp_path / 'same_weights.pth'),
                            quick_gelu=True)
    assert from_archive.quick_gelu and from_state.quick_gelu
    img, texts = torch.rand(3, 1, 40, 50), ['a photo of a cat.', 'high quality']
    torch.testing.assert_close(from_archive.encode_image(img), from_state.encode_image(img),
                               rtol=0, atol=0)
    torch.testing.assert_close(from_archive.encode_text(texts), from_state.encode_text(texts),
                               rtol=0, atol=0)
    assert from_archive.identity['weights'] == from_state.identity['weights']
    # The archive's activation is what it says: a GELU archive gives a GELU model.
    gelu = save_tiny_clip_archive(str(tmp_path / 'gelu.pt'), seed=1, quick_gelu=False)
    assert not FrozenCLIP('spikeclip-tiny', pretrained=gelu).quick_gelu


def test_archive_of_another_arch_is_a_clear_error(tmp_path):
    archive = save_tiny_clip_archive(str(tmp_path / 'tiny.pt'))
    with pytest.raises(CheckpointError, match=r'tiny\.pt.*do not fit'):
        FrozenCLIP('ViT-B-32', pretrained=archive)


def test_quick_gelu_option_and_openai_like_file_warning(tiny_clip_path, tmp_path, caplog):
    assert not FrozenCLIP('spikeclip-tiny', tiny_clip_path).quick_gelu  # the arch's GELU
    clip = FrozenCLIP('spikeclip-tiny', tiny_clip_path, quick_gelu=True)
    assert clip.quick_gelu and 'quick_gelu=True' in repr(clip)
    # A state-dict file with OpenAI's logit scale (100) in a GELU arch: warned, with the fix.
    state = torch.load(tiny_clip_path, weights_only=True)
    state['logit_scale'] = torch.tensor(math.log(100.0))
    torch.save(state, tmp_path / 'openai_like.pth')
    logger = MMLogger.get_current_instance()
    with _capture(logger) as records:
        FrozenCLIP('spikeclip-tiny', str(tmp_path / 'openai_like.pth'))
    text = ' '.join(records)
    assert 'QuickGELU' in text and 'quick_gelu=True' in text and 'spikeclip-tiny-quickgelu' in text
    with _capture(logger) as records:  # an explicit choice is not second-guessed
        FrozenCLIP('spikeclip-tiny', str(tmp_path / 'openai_like.pth'), quick_gelu=False)
    assert not any('QuickGELU' in r for r in records)


class _capture:
    """Messages the MMEngine logger emits inside the block."""

    def __init__(self, logger):
        self.logger, self.records = logger, []

    def __enter__(self):
        import logging

        class _H(logging.Handler):
            def emit(h, record):
                self.records.append(record.getMessage())
        self.handler = _H()
        self.logger.addHandler(self.handler)
        return self.records

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)


def test_offline_help_names_the_quickgelu_arch(monkeypatch, tmp_path):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(CheckpointError) as err:
        FrozenCLIP('ViT-B-32', pretrained='openai', cache_dir=str(tmp_path))
    msg = str(err.value)
    assert "'ViT-B-32-quickgelu'" in msg and 'quick_gelu=True' in msg and 'ViT-B-32.pt' in msg


def test_hf_hub_cache_is_preferred(monkeypatch, tmp_path):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    # The Hugging Face Hub cache is preferred, as in open_clip's own download.
    repo = tmp_path / 'models--timm--vit_base_patch32_clip_224.openai'
    (repo / 'refs').mkdir(parents=True)
    (repo / 'refs' / 'main').write_text('abc123')
    (repo / 'snapshots' / 'abc123').mkdir(parents=True)
    hub_file = repo / 'snapshots' / 'abc123' / 'open_clip_model.safetensors'
    hub_file.write_bytes(b'x')
    path, extra = resolve_pretrained('ViT-B-32', 'openai', cache_dir=str(tmp_path))
    assert os.path.samefile(path, hub_file)
    assert extra['quick_gelu'] is True  # the OpenAI weights were trained with QuickGELU


def test_text_projection_none_is_handled(tiny_clip_path):
    clip = FrozenCLIP('spikeclip-tiny', tiny_clip_path)
    clip.model.text_projection = None  # open_clip models without a text projection
    tokens = clip.tokenize(['a photo of a cat.'])
    ours = clip.encode_token_embeddings(clip.token_embedding(tokens), tokens)
    assert ours.shape == (1, clip.width)
    torch.testing.assert_close(ours, F.normalize(clip.model.encode_text(tokens), dim=-1))


def test_encode_token_embeddings_reproduces_open_clip(tiny_clip):
    tokens = tiny_clip.tokenize(['a photo of a cat.', 'high quality', 'x'])
    ours = tiny_clip.encode_token_embeddings(tiny_clip.token_embedding(tokens), tokens)
    theirs = F.normalize(tiny_clip.model.encode_text(tokens), dim=-1)
    assert torch.equal(ours, theirs)
    torch.testing.assert_close(tiny_clip.encode_text(['a photo of a cat.', 'high quality', 'x']),
                               ours)


def test_feature_is_taken_at_the_end_of_text(tiny_clip):
    tokens = tiny_clip.tokenize(['high quality'])  # SOT, high, quality, EOT at position 3
    eot = int(tokens.argmax(-1))
    assert eot == 3
    embeds = tiny_clip.token_embedding(tokens)
    ref = tiny_clip.encode_token_embeddings(embeds, tokens)
    # A random direction: a constant shift of an embedding would vanish in LayerNorm.
    change = torch.randn(embeds.shape[-1], generator=torch.Generator().manual_seed(0))
    after, before = embeds.clone(), embeds.clone()
    after[:, eot + 1:] += change
    before[:, eot - 1] += change
    assert torch.equal(tiny_clip.encode_token_embeddings(after, tokens), ref)
    assert (tiny_clip.encode_token_embeddings(before, tokens) - ref).abs().max() > 1e-2


def _smooth_image(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    img = 0.5 + 0.3 * np.sin(xx / 5.0) * np.cos(yy / 7.0) + 0.15 * np.sin((xx + yy) / 3.0)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


@pytest.mark.parametrize('resize_mode,interpolation', [('shortest', 'bicubic'),
                                                        ('squash', 'bilinear'),
                                                        ('longest', 'bicubic')])
def test_preprocess_follows_the_weights_preprocessing_config(tiny_clip_path, resize_mode,
                                                             interpolation):
    from open_clip.transform import PreprocessCfg, image_transform_v2
    clip = FrozenCLIP('spikeclip-tiny', tiny_clip_path)
    assert clip.preprocess_cfg['resize_mode'] == 'shortest'  # open_clip's default for the arch
    clip.preprocess_cfg.update(resize_mode=resize_mode, interpolation=interpolation)
    arr = _smooth_image(80, 114)  # a 250x400-like aspect: squashing and cropping differ
    ours = clip.preprocess(torch.from_numpy(arr)[None, None].float() / 255)
    theirs = image_transform_v2(PreprocessCfg(**clip.preprocess_cfg), is_train=False)(
        Image.fromarray(arr).convert('RGB'))[None]  # open_clip's own evaluation transform
    assert ours.shape == theirs.shape == (1, 3, 64, 64) and ours.dtype == torch.float32
    # PIL works in 8 bits: one grey level is 0.015 after CLIP's normalisation.
    assert (ours - theirs).abs().mean() < 0.01 and (ours - theirs).abs().max() < 0.06


def test_official_grey_normalisation_option(tiny_clip_path):
    clip = FrozenCLIP('spikeclip-tiny', tiny_clip_path, normalize='grey')
    x = clip.preprocess(torch.full((1, 1, 32, 32), 0.5))
    mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
    luma = (0.299, 0.587, 0.114)
    grey_mean = sum(w * m for w, m in zip(luma, mean))
    grey_std = math.sqrt(sum((w * s)**2 for w, s in zip(luma, std)))
    torch.testing.assert_close(x, torch.full_like(x, (0.5 - grey_mean) / grey_std))
    with pytest.raises(ConfigError, match='normalize'):
        FrozenCLIP('spikeclip-tiny', tiny_clip_path, normalize='luma')


def test_identity_covers_normalisation_and_preprocessing(tiny_clip_path, tmp_path):
    # Issue 18: the identity left out normalize, so a model rebuilt with
    # model.clip.normalize=grey was accepted and its learned prompts silently lost accuracy.
    from spikeclip.apis import init_model
    from spikeclip.models.clip.frozen_clip import check_clip_identity
    from spikeclip.models.stages.checkpoint_meta import save_model_file, stage_meta
    plain = FrozenCLIP('spikeclip-tiny', tiny_clip_path)
    grey = FrozenCLIP('spikeclip-tiny', tiny_clip_path, normalize='grey')
    assert plain.identity['normalize'] == 'per_channel' and grey.identity['normalize'] == 'grey'
    assert plain.identity['preprocess'] == dict(
        fill_color=0, interpolation='bicubic', mean=[0.48145466, 0.4578275, 0.40821073],
        mode='RGB', resize_mode='shortest', size=64, std=[0.26862954, 0.26130258, 0.27577711])
    with pytest.raises(CheckpointError, match=r"another CLIP.*normalize='grey' vs 'per_channel'"):
        check_clip_identity(plain.identity, grey.identity, 'stage 3', 'prompt.pth')
    resized = dict(plain.identity, preprocess=dict(plain.identity['preprocess'],
                                                   resize_mode='squash'))
    with pytest.raises(CheckpointError, match=r"another CLIP.*preprocess=.*'resize_mode': "
                                              r"'shortest'.*vs.*'squash'"):
        check_clip_identity(resized, plain.identity, 'stage 3', 'prompt.pth')
    # Identities of older checkpoints do not record them: nothing to compare.
    old = {k: plain.identity[k] for k in ('arch', 'quick_gelu', 'weights', 'pretrained')}
    check_clip_identity(old, grey.identity, 'stage 3', 'prompt.pth')
    # A model rebuilt from its checkpoint with model.clip.normalize=grey is refused.
    model = MODELS.build(dict(type='CoarseModel', encoder=dict(type='TFP'),
                              class_names=['cat', 'dog'],
                              clip=dict(type='FrozenCLIP', arch='spikeclip-tiny',
                                        pretrained=tiny_clip_path)))
    ckpt = str(tmp_path / 'coarse.pth')
    save_model_file(ckpt, model.state_dict(), stage_meta('coarse', model.export_cfg(),
                                                         model.class_names))
    assert init_model(ckpt, device='cpu').clip.normalize == 'per_channel'
    with pytest.raises(CheckpointError, match=r"CoarseModel uses another CLIP.*normalize='grey'"):
        init_model(ckpt, device='cpu', cfg_options={'model.clip.normalize': 'grey'})


@pytest.fixture(scope='module')
def clip100(tiny_clip_path, tmp_path_factory):
    """The tiny CLIP with OpenAI's logit scale (100), where bf16 rounding matters."""
    state = torch.load(tiny_clip_path, weights_only=True)
    state['logit_scale'] = torch.tensor(math.log(100.0))
    path = str(tmp_path_factory.mktemp('clip100') / 'clip100.pth')
    torch.save(state, path)
    return FrozenCLIP('spikeclip-tiny', path, quick_gelu=False)


def test_logits_and_loss_are_float32_under_bf16_autocast(clip100):
    from spikeclip.models.losses import CLIPClassLoss
    torch.manual_seed(0)
    texts = [f'a photo of a thing number {i}.' for i in range(101)]
    img = torch.rand(32, 1, 32, 32)
    labels = torch.randint(101, (32, ))
    loss = CLIPClassLoss()
    feats = clip100.encode_text(texts)
    f_img = clip100.encode_image(img)
    ref_logits = clip100.logits(f_img, feats)
    ref_loss = loss(img, labels, clip100, feats)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        # Given the same features, the logits are exactly the float32 ones ...
        logits = clip100.logits(f_img, feats)
        assert logits.dtype == torch.float32 and torch.equal(logits, ref_logits)
        # ... and with the towers in bf16 (training), features and loss are float32 and close.
        f_bf16 = clip100.encode_image(img)
        amp_loss = loss(img, labels, clip100, feats)
    assert f_bf16.dtype == torch.float32 and amp_loss.dtype == torch.float32
    torch.testing.assert_close(f_bf16.norm(dim=-1), torch.ones(32))
    assert abs(float(amp_loss) - float(ref_loss)) < 0.02 * float(ref_loss)


def test_inference_setting_decides_classes_as_float32(clip100):
    from spikeclip.engine.fast_inference import keep_fp32
    from spikeclip.models.stages.base import class_probs
    torch.manual_seed(1)
    texts = [f'a photo of a thing number {i}.' for i in range(101)]
    img = torch.rand(64, 1, 40, 40)
    feats = clip100.encode_text(texts)
    ref = class_probs(clip100, img, feats)
    clip = copy.deepcopy(clip100)
    keep_fp32(clip)  # what prepare_for_inference does to the frozen CLIP
    assert clip.fp32_towers
    with torch.autocast('cpu', dtype=torch.bfloat16):
        probs = class_probs(clip, img, feats)
        text = clip.encode_text(texts[:3])
    assert probs.dtype == torch.float32
    torch.testing.assert_close(probs, ref)
    assert torch.equal(probs.topk(5).indices, ref.topk(5).indices)
    torch.testing.assert_close(text, feats[:3])
