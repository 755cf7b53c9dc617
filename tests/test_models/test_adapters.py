import pytest
import torch
import torch.nn.functional as F

from spikeclip.models.adapters import (
    ClassPromptLearner,
    HQLQPromptLearner,
    zero_shot_class_features,
)
from spikeclip.registry import ADAPTERS
from spikeclip.utils.errors import ConfigError


def _quality_batch(n: int = 4):
    """Smooth ramps (high quality, label 0) and uniform noise (low quality, label 1)."""
    g = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(n, 1, 32, 32)
    clean = ramp * (0.5 + 0.5 * torch.rand(n, 1, 1, 1, generator=g))
    noisy = torch.rand(clean.shape, generator=g)
    return torch.cat([clean, noisy]), torch.tensor([0] * n + [1] * n)


def _adam_losses(params, loss_fn, steps: int = 15, lr: float = 3e-3):
    opt = torch.optim.Adam(params, lr=lr)
    losses = []
    for _ in range(steps):
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_hq_lq_init_reproduces_the_word_prompts(tiny_clip):
    prompts = HQLQPromptLearner(tiny_clip)
    feats = prompts(tiny_clip)
    assert feats.shape == (2, tiny_clip.embed_dim)
    torch.testing.assert_close(feats.norm(dim=-1), torch.ones(2))
    # Context = the word embeddings, at the words' positions: the text features of the words.
    torch.testing.assert_close(feats, tiny_clip.encode_text(['high quality', 'low quality']))
    torch.testing.assert_close(prompts.ctx[0].detach(), tiny_clip.word_embeddings('high quality'))


def test_hq_lq_state_dict_holds_only_the_prompts(tiny_clip):
    prompts = ADAPTERS.build(dict(type='HQLQPromptLearner', clip=tiny_clip, num_ctx=6,
                                  learn_temperature=True))
    sd = prompts.state_dict()
    assert set(sd) == {'ctx.0', 'ctx.1', 'log_scale'}
    assert sd['ctx.0'].shape == (6, tiny_clip.width)
    # The two words come last, right before the end-of-text token.
    torch.testing.assert_close(sd['ctx.1'][-2:], tiny_clip.word_embeddings('low quality'))
    assert all(not n.startswith(('model', 'clip')) for n, _ in prompts.named_modules() if n)
    assert sum(p.numel() for p in prompts.parameters()) == 2 * 6 * tiny_clip.width + 1


def test_hq_lq_feature_depends_on_the_context(tiny_clip):
    prompts = HQLQPromptLearner(tiny_clip, init_texts=('sharp', 'blurry'))
    before = prompts(tiny_clip)
    with torch.no_grad():
        prompts.ctx[1].add_(torch.randn_like(prompts.ctx[1]))
    after = prompts(tiny_clip)
    torch.testing.assert_close(after[0], before[0])
    assert not torch.allclose(after[1], before[1], atol=1e-3)


def test_hq_lq_temperature(tiny_clip):
    img = F.normalize(torch.randn(3, tiny_clip.embed_dim), dim=-1)
    fixed = HQLQPromptLearner(tiny_clip, temperature=0.5)
    feats = fixed(tiny_clip)
    torch.testing.assert_close(fixed.logits(img, feats), 2.0 * img @ feats.t())
    default = HQLQPromptLearner(tiny_clip)
    torch.testing.assert_close(default.logits(img, feats), tiny_clip.logit_scale * img @ feats.t())
    with pytest.raises(ConfigError, match='num_ctx=1'):
        HQLQPromptLearner(tiny_clip, num_ctx=1)
    with pytest.raises(ConfigError, match='two texts'):
        HQLQPromptLearner(tiny_clip, init_texts=('good',))


@pytest.mark.parametrize('learn_temperature', [False, True])
def test_hq_lq_learns_to_tell_quality(tiny_clip, learn_temperature):
    torch.manual_seed(0)
    imgs, labels = _quality_batch()
    with torch.no_grad():
        img_feats = tiny_clip.encode_image(imgs)
    prompts = HQLQPromptLearner(tiny_clip, learn_temperature=learn_temperature)
    losses = _adam_losses(prompts.parameters(), lambda: F.cross_entropy(
        prompts.logits(img_feats, prompts(tiny_clip)), labels))
    assert losses[-1] < 0.8 * losses[0]
    assert all(p.grad is None for p in tiny_clip.parameters())


def test_class_prompts_init_reproduce_zero_shot(tiny_clip):
    names = ['cat', 'sea_lion', 'car']
    learner = ClassPromptLearner(tiny_clip, names)
    feats = learner(tiny_clip)
    assert feats.shape == (3, tiny_clip.embed_dim)
    torch.testing.assert_close(feats.norm(dim=-1), torch.ones(3))
    zs = zero_shot_class_features(tiny_clip, names)
    torch.testing.assert_close(zs, tiny_clip.encode_text(
        ['a photo of a cat.', 'a photo of a sea lion.', 'a photo of a car.']))
    torch.testing.assert_close(feats, zs)  # 'a photo of a' is the initial context
    torch.testing.assert_close(learner.zero_shot_features(tiny_clip), zs)


@pytest.mark.parametrize('cfg, shape', [
    (dict(), (4, 64)),
    (dict(class_specific=True), (2, 4, 64)),
    (dict(num_ctx=6, ctx_init=None), (6, 64)),
    (dict(num_ctx=6, ctx_init='a photo of a'), (6, 64)),
])
def test_class_prompt_state_dict(tiny_clip, cfg, shape):
    learner = ADAPTERS.build(dict(type='ClassPromptLearner', clip=tiny_clip,
                                  class_names=['cat', 'dog'], **cfg))
    sd = learner.state_dict()
    assert list(sd) == ['ctx'] and sd['ctx'].shape == shape
    assert learner(tiny_clip).shape == (2, 64)


def test_class_prompts_learn(trained_tiny_clip):
    tiny_clip = trained_tiny_clip  # image features that depend on the image
    torch.manual_seed(0)
    imgs, labels = _quality_batch()  # any two visually different groups will do
    with torch.no_grad():
        img_feats = tiny_clip.encode_image(imgs)
    for class_specific in (False, True):
        learner = ClassPromptLearner(tiny_clip, ['smooth', 'noisy'], class_specific=class_specific)
        losses = _adam_losses(learner.parameters(), lambda: F.cross_entropy(
            learner.logits(img_feats, learner(tiny_clip)), labels))
        assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize('cfg', [
    dict(type='HQLQPromptLearner', num_ctx=4, learn_temperature=True),
    dict(type='ClassPromptLearner', class_names=['cat', 'dog'], ctx_init=None,
         class_specific=True),
])
def test_rebuilt_adapter_loads_its_state_dict(tiny_clip, cfg):
    """Stage 3 rebuilds the stage-2 adapters from config and loads their weights strictly."""
    trained = ADAPTERS.build(dict(cfg, clip=tiny_clip))
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.1 * torch.randn_like(p))
    rebuilt = ADAPTERS.build(dict(cfg, clip=tiny_clip))
    rebuilt.load_state_dict(trained.state_dict(), strict=True)
    torch.testing.assert_close(rebuilt(tiny_clip), trained(tiny_clip))
