import pytest
import torch
import torch.nn.functional as F

from spikeclip.models.adapters import HQLQPromptLearner
from spikeclip.models.losses import CLIPClassLoss, PromptQualityLoss
from spikeclip.registry import LOSSES


def _optimise_image(loss_fn, steps: int = 10, lr: float = 0.05):
    """Adam on the pixels of a grey [2, 1, 24, 24] image; returns the loss curve."""
    torch.manual_seed(0)
    img = torch.rand(2, 1, 24, 24).requires_grad_()
    opt = torch.optim.Adam([img], lr=lr)
    losses = []
    for _ in range(steps):
        loss = loss_fn(img)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_clip_class_loss(trained_tiny_clip):
    tiny_clip = trained_tiny_clip  # image features that depend on the image
    loss = LOSSES.build(dict(type='CLIPClassLoss'))
    assert loss.name == 'loss_clip_class'
    assert loss.inputs == ('pred', 'labels', 'clip', 'class_features')
    class_features = tiny_clip.encode_text(['a photo of a cat.', 'a photo of a dog.'])
    labels = torch.tensor([0, 1])
    pred = torch.rand(2, 1, 24, 24)
    per_image = CLIPClassLoss(reduction='none')(pred, labels, tiny_clip, class_features)
    logits = tiny_clip.logit_scale * tiny_clip.encode_image(pred) @ class_features.t()
    torch.testing.assert_close(per_image, F.cross_entropy(logits, labels, reduction='none'))
    torch.testing.assert_close(CLIPClassLoss(loss_weight=2.0)(pred, labels, tiny_clip,
                                                              class_features),
                               2.0 * per_image.mean())
    losses = _optimise_image(lambda img: loss(img, labels, tiny_clip, class_features))
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize('temperature', [None, 0.05])
def test_prompt_quality_loss(trained_tiny_clip, temperature):
    tiny_clip = trained_tiny_clip
    loss = LOSSES.build(dict(type='PromptQualityLoss', temperature=temperature))
    assert loss.name == 'loss_prompt_quality'
    assert loss.inputs == ('pred', 'clip', 'prompt_features')
    with torch.no_grad():
        prompt_features = HQLQPromptLearner(tiny_clip)(tiny_clip)
    pred = torch.rand(3, 1, 24, 24)
    scale = tiny_clip.logit_scale if temperature is None else 1 / temperature
    logits = scale * tiny_clip.encode_image(pred) @ prompt_features.t()
    per_image = PromptQualityLoss(temperature, reduction='none')(pred, tiny_clip, prompt_features)
    torch.testing.assert_close(per_image,
                               F.cross_entropy(logits, torch.zeros(3, dtype=torch.long),
                                               reduction='none'))
    torch.testing.assert_close(loss(pred, tiny_clip, prompt_features), per_image.mean())
    losses = _optimise_image(lambda img: loss(img, tiny_clip, prompt_features))
    assert losses[-1] < 0.5 * losses[0]
