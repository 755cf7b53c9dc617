import os

import pytest
import torch
import torch.nn.functional as F

from spikeclip.models.clip import FrozenCLIP, resolve_pretrained, save_tiny_clip
from spikeclip.registry import MODELS
from spikeclip.utils.errors import CheckpointError, ConfigError


def test_tiny_clip_features(tiny_clip):
    clip = tiny_clip
    assert clip.embed_dim == 64 and clip.image_size == (32, 32) and clip.width == 64
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


def test_cached_tag_resolves_without_network(monkeypatch, tmp_path):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    url_file = tmp_path / 'ViT-B-32.pt'  # open_clip's URL cache: <cache_dir>/<basename of url>
    url_file.write_bytes(b'x')
    path, extra = resolve_pretrained('ViT-B-32', 'openai', cache_dir=str(tmp_path))
    assert path == str(url_file)
    assert extra['force_quick_gelu'] is True  # the OpenAI weights were trained with QuickGELU
    # The Hugging Face Hub cache is preferred, as in open_clip's own download.
    repo = tmp_path / 'models--timm--vit_base_patch32_clip_224.openai'
    (repo / 'refs').mkdir(parents=True)
    (repo / 'refs' / 'main').write_text('abc123')
    (repo / 'snapshots' / 'abc123').mkdir(parents=True)
    hub_file = repo / 'snapshots' / 'abc123' / 'open_clip_model.safetensors'
    hub_file.write_bytes(b'x')
    path, _ = resolve_pretrained('ViT-B-32', 'openai', cache_dir=str(tmp_path))
    assert os.path.samefile(path, hub_file)


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
