"""Learnable class prompts (CoOp style) and the hand-written zero-shot prompts they replace.

Each class prompt is ``[SOT] ctx_1 ... ctx_M <class name> . [EOT]``; the context embeddings are
shared by all classes (or one set per class) and initialised from ``ctx_init``'s words.
"""
from typing import List, Sequence, Union

import torch
from torch import Tensor, nn

from spikeclip.datasets.base import load_prompt_names
from spikeclip.registry import ADAPTERS
from spikeclip.utils.errors import ConfigError

from ..clip.frozen_clip import clip_logits
from .hq_lq_prompt import init_context, relative_drift


def zero_shot_class_features(clip: nn.Module, class_names: Sequence[str],
                             template: str = 'a photo of a {}.',
                             prompt_names: Union[str, Sequence[str], None] = None) -> Tensor:
    """Features of hand-written prompts, the zero-shot CLIP classifier.

    Args:
        clip (FrozenCLIP): The frozen CLIP.
        class_names (Sequence[str]): ``K`` class names, index = label.
        template (str): Prompt with one ``{}`` for the class's prompt text. Defaults to
            ``'a photo of a {}.'``.
        prompt_names (str | Sequence[str], optional): Prompt text per class (see
            :func:`~spikeclip.datasets.load_prompt_names`); None reads ``_`` as a space.

    Returns:
        Tensor: ``[K, D]`` unit-norm float32 text features (no gradient).
    """
    names = load_prompt_names(class_names, prompt_names)
    with torch.no_grad():
        return clip.encode_text([template.format(n) for n in names])


@ADAPTERS.register_module()
class ClassPromptLearner(nn.Module):
    """Learnable context tokens before each class name, for a frozen CLIP.

    The CLIP is passed in, not kept: the state dict holds only the context embeddings.

    Args:
        clip (FrozenCLIP): The frozen CLIP (word embeddings for the init, logit scale).
        class_names (list[str]): The ``K`` class names, in label order.
        prompt_names (str | list[str], optional): Prompt text per class (see
            :func:`~spikeclip.datasets.load_prompt_names`); None reads ``_`` as a space.
        num_ctx (int): Number of context tokens ``M``. Defaults to 4.
        ctx_init (str, optional): Initial words of the context (at most ``M`` tokens; fewer
            are left-padded with random embeddings); ``None`` starts fully random.
            Defaults to ``'a photo of a'``.
        class_specific (bool): One context per class (``[K, M, W]``) instead of a shared one
            (``[M, W]``). Defaults to False.
    """

    def __init__(self, clip: nn.Module, class_names: List[str], num_ctx: int = 4,
                 ctx_init: str = 'a photo of a', class_specific: bool = False,
                 prompt_names: Union[str, Sequence[str], None] = None):
        super().__init__()
        if isinstance(class_names, str) or len(class_names) == 0:
            raise ConfigError(f'class_names must be a non-empty list of names, got {class_names!r}')
        self.class_names = list(class_names)
        self.prompt_names = list(load_prompt_names(self.class_names, prompt_names))
        self.num_ctx = num_ctx
        self.class_specific = class_specific
        if class_specific:  # each class its own draw of the random part
            ctx = torch.stack([init_context(clip, ctx_init or '', num_ctx) for _ in class_names])
        else:
            ctx = init_context(clip, ctx_init or '', num_ctx)
        self.ctx = nn.Parameter(ctx)
        # The initial words, to report how far training moves the context from them.
        self.register_buffer('init_words', clip.word_embeddings(ctx_init or '').detach().clone(),
                             persistent=False)
        # [K, L] ids of '[SOT] X ... X <name>. [EOT]'; the X positions are replaced by the ctx.
        prompts = [' '.join(['X'] * num_ctx + [n]) + '.' for n in self.prompt_names]
        self.register_buffer('tokens', clip.tokenize(prompts), persistent=False)
        self.register_buffer('logit_scale', clip.logit_scale.clone().float(), persistent=False)

    def forward(self, clip: nn.Module) -> Tensor:
        """Class prompt features.

        Args:
            clip (FrozenCLIP): The frozen CLIP the prompts were made for.

        Returns:
            Tensor: ``[K, D]`` unit-norm features, row ``k`` for ``class_names[k]``.
        """
        embeds = clip.token_embedding(self.tokens)  # [K, L, W]
        ctx = self.ctx if self.class_specific else self.ctx.expand(len(embeds), -1, -1)
        embeds = torch.cat([embeds[:, :1], ctx.to(embeds.dtype), embeds[:, 1 + self.num_ctx:]],
                           dim=1)
        return clip.encode_token_embeddings(embeds, self.tokens)

    def logits(self, image_features: Tensor, class_features: Tensor) -> Tensor:
        """CLIP-scaled cosine similarities ``[N, K]`` of ``[N, D]`` images to ``[K, D]`` classes."""
        return clip_logits(image_features, class_features, self.logit_scale)

    def context_drift(self) -> Tensor:
        """Relative drift of the context from its initial words (see :func:`relative_drift`)."""
        return relative_drift(self.ctx, self.init_words)

    def zero_shot_features(self, clip: nn.Module) -> Tensor:
        """``[K, D]`` features of ``'a photo of a {name}.'`` for the same classes (baseline)."""
        return zero_shot_class_features(clip, self.class_names, prompt_names=self.prompt_names)
