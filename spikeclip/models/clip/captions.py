"""Captions the tiny CLIP is pretrained with: class captions, quality captions and both.

A caption carries up to two attributes: a class (or none) and a quality (high, low, or none).
An image matches a caption when every attribute the caption states is the image's: ``'a photo of
a cat.'`` matches every cat image, ``'a blurry photo of a cat.'`` only degraded cat images,
``'low quality'`` every degraded image (:func:`caption_targets`).

The templates include what the stages ask CLIP: stage 1's and the baselines' hand-written
``'a photo of a {}.'`` (and the official SpikeCLIP evaluation's ``'image of a {}'``), the class
prompt learner's initial ``'a photo of a'`` context, and the high/low-quality prompt learner's
initial words ``'high quality'`` / ``'low quality'``.
"""
from typing import List, NamedTuple, Sequence

import torch

NO_CLASS = -1
HIGH, LOW, NO_QUALITY = 0, 1, -1

CLASS_TEMPLATES = (
    'a photo of a {}.', 'a photo of the {}.', 'a close-up photo of a {}.', 'a close-up of {}.',
    'a grey photo of a {}.', 'a cropped photo of the {}.', 'a picture of a {}.', 'an image of {}.',
    'image of a {}', '{}',
)
QUALITY_CLASS_TEMPLATES = {
    HIGH: ('a sharp photo of a {}.', 'a clean photo of a {}.', 'a high quality photo of a {}.',
           'a sharp, clean image of {}.', 'a dim but sharp photo of a {}.'),
    LOW: ('a blurry photo of a {}.', 'a noisy photo of a {}.', 'a low quality photo of a {}.',
          'a grainy, blurred image of {}.', 'a noisy, low-light photo of a {}.'),
}
QUALITY_TEXTS = {
    HIGH: ('high quality', 'a high quality photo.', 'a sharp, clean image.', 'sharp and clean',
           'good quality'),
    LOW: ('low quality', 'a low quality photo.', 'a blurry, noisy image.', 'blurry and noisy',
          'bad quality'),
}


class Caption(NamedTuple):
    text: str
    label: int  # class index, or NO_CLASS
    quality: int  # HIGH, LOW or NO_QUALITY


def caption_bank(prompt_names: Sequence[str]) -> List[Caption]:
    """Every caption for classes whose prompt text is ``prompt_names`` (index = label)."""
    bank = [Caption(t.format(name), k, NO_QUALITY)
            for k, name in enumerate(prompt_names) for t in CLASS_TEMPLATES]
    for q, templates in QUALITY_CLASS_TEMPLATES.items():
        bank += [Caption(t.format(name), k, q)
                 for k, name in enumerate(prompt_names) for t in templates]
    for q, texts in QUALITY_TEXTS.items():
        bank += [Caption(t, NO_CLASS, q) for t in texts]
    return bank


def bank_index(bank: Sequence[Caption]) -> dict:
    """``(label, quality) -> tensor of bank indices``, for drawing captions of an image."""
    groups = {}
    for i, c in enumerate(bank):
        groups.setdefault((c.label, c.quality), []).append(i)
    return {k: torch.tensor(v) for k, v in groups.items()}


def caption_targets(labels: torch.Tensor, qualities: torch.Tensor, cap_labels: torch.Tensor,
                    cap_qualities: torch.Tensor) -> torch.Tensor:
    """``[N, M]`` boolean: image ``i`` (``labels[i]``, ``qualities[i]``) matches caption ``j``
    (every attribute the caption states is the image's)."""
    same_class = (cap_labels[None] == NO_CLASS) | (cap_labels[None] == labels[:, None])
    same_quality = (cap_qualities[None] == NO_QUALITY) | (cap_qualities[None] == qualities[:, None])
    return same_class & same_quality
