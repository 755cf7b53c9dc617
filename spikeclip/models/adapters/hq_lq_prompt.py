"""Learnable high-quality / low-quality prompts (CLIP-LIT style, stage 2 of SpikeCLIP).

Each prompt is ``[SOT] ctx_1 ... ctx_M [EOT]`` where the ``ctx`` are free token embeddings,
initialised from the embeddings of real words (``'high quality'``, ``'low quality'``) and run
through CLIP's frozen text encoder; the prompt feature is the one at the end-of-text position.
Stage 2 trains them with cross-entropy telling high-quality images (label 0) from low-quality
ones (label 1); stage 3 then pushes the refined image towards the high-quality prompt.
"""
import math
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from spikeclip.registry import ADAPTERS
from spikeclip.utils.errors import ConfigError

from ..clip.frozen_clip import clip_logits


def init_context(clip: nn.Module, text: str, num_ctx: Optional[int] = None) -> Tensor:
    """Initial context embeddings: the word embeddings of ``text``, optionally left-padded.

    Args:
        clip (FrozenCLIP): Gives the token embeddings.
        text (str): Initial words (``''`` for none).
        num_ctx (int, optional): Number of context tokens ``M``. ``None`` uses the ``n`` word
            tokens of ``text``; otherwise ``M - n`` random N(0, 0.02) embeddings (CoOp's init)
            precede the words. Defaults to None.

    Returns:
        Tensor: ``[M, W]`` embeddings (a fresh tensor, detached from CLIP).

    Raises:
        ConfigError: ``text`` has more tokens than ``num_ctx``, or there are no tokens at all.
    """
    words = clip.word_embeddings(text).detach().clone()
    if num_ctx is None:
        num_ctx = len(words)
    if len(words) > num_ctx:
        raise ConfigError(f'initial prompt {text!r} has {len(words)} tokens, more than '
                          f'num_ctx={num_ctx}; raise num_ctx or shorten the text')
    if num_ctx == 0:
        raise ConfigError(f'a prompt needs at least one context token (text={text!r}, num_ctx=0)')
    pad = torch.randn(num_ctx - len(words), words.shape[1], device=words.device) * 0.02
    return torch.cat([pad.to(words.dtype), words])


def relative_drift(ctx: Tensor, words: Tensor) -> Tensor:
    """``||ctx_words - words|| / ||words||``: how far the word-initialised context tokens
    (the last ``len(words)`` of ``ctx [..., M, W]``) moved from their initial words ``[n, W]``;
    0 at the start, 1 when the change is as large as the words themselves. NaN without words."""
    n = len(words)
    if n == 0:
        return torch.tensor(float('nan'))
    with torch.no_grad():
        moved = ctx[..., ctx.shape[-2] - n:, :].float() - words.float()
        return moved.norm() / (words.float().norm() * (moved.numel() // words.numel()) ** 0.5)


@ADAPTERS.register_module()
class HQLQPromptLearner(nn.Module):
    """A learnable high-quality and low-quality prompt for a frozen CLIP.

    The CLIP is passed in, not kept: the state dict holds only the context embeddings (and the
    temperature when it is learned).

    Args:
        clip (FrozenCLIP): The frozen CLIP (word embeddings for the init, feature sizes).
        init_texts (Sequence[str]): Initial words of the (high, low) quality prompts.
            Defaults to ``('high quality', 'low quality')``.
        num_ctx (int, optional): Context tokens per prompt; ``None`` uses as many as the
            initial words have; more left-pads them with random embeddings. Defaults to None.
        temperature (float, optional): Logits are ``image @ prompt.T / temperature``; ``None``
            uses CLIP's logit scale (``1 / temperature`` ~ 100 for OpenAI weights).
            Defaults to None.
        learn_temperature (bool): Learn the (log) logit scale, starting from the above.
            Defaults to False.

    Example:
        >>> prompts = HQLQPromptLearner(clip)
        >>> logits = prompts.logits(clip.encode_image(imgs), prompts(clip))  # [N, 2]
        >>> loss = F.cross_entropy(logits, is_low_quality.long())  # label 0 = high quality
    """

    def __init__(self, clip: nn.Module, init_texts: Sequence[str] = ('high quality', 'low quality'),
                 num_ctx: Optional[int] = None, temperature: Optional[float] = None,
                 learn_temperature: bool = False):
        super().__init__()
        if isinstance(init_texts, str) or len(init_texts) != 2:
            raise ConfigError(f'init_texts must be two texts (high quality, low quality), '
                              f'got {init_texts!r}')
        if temperature is not None and temperature <= 0:
            raise ConfigError(f'temperature must be positive, got {temperature}')
        self.init_texts = tuple(init_texts)
        # One [M_i, W] tensor per prompt: the two prompts may have different lengths.
        self.ctx = nn.ParameterList(
            [nn.Parameter(init_context(clip, text, num_ctx)) for text in init_texts])
        # [2, L] ids of '[SOT] X ... X [EOT]': the X positions are replaced by the ctx, the ids
        # give the end-of-text position to the text encoder.
        placeholders = [' '.join(['X'] * len(ctx)) for ctx in self.ctx]
        # The initial words of each prompt, to report how far training moves it from them.
        for i, text in enumerate(init_texts):
            self.register_buffer(f'init_words_{i}', clip.word_embeddings(text).detach().clone(),
                                 persistent=False)
        self.register_buffer('tokens', clip.tokenize(placeholders), persistent=False)

        log_scale = torch.tensor(math.log(1.0 / temperature) if temperature is not None
                                 else math.log(float(clip.logit_scale)))
        if learn_temperature:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer('log_scale', log_scale, persistent=False)

    def forward(self, clip: nn.Module) -> Tensor:
        """Prompt features.

        Args:
            clip (FrozenCLIP): The frozen CLIP the prompts were made for.

        Returns:
            Tensor: ``[2, D]`` unit-norm features; row 0 is the high-quality prompt.
        """
        embeds = clip.token_embedding(self.tokens)  # [2, L, W]: SOT, X..., EOT, padding
        rows = [torch.cat([e[:1], ctx.to(e.dtype), e[1 + len(ctx):]])
                for e, ctx in zip(embeds, self.ctx)]
        return clip.encode_token_embeddings(torch.stack(rows), self.tokens)

    def context_drift(self) -> Tensor:
        """``[2]`` relative drift of the (high, low) quality prompts from their initial words
        (``||ctx - words|| / ||words||`` over the word-initialised tokens)."""
        return torch.stack([relative_drift(ctx, getattr(self, f'init_words_{i}'))
                            for i, ctx in enumerate(self.ctx)])

    @property
    def logit_scale(self) -> Tensor:
        """Multiplier of the cosine similarities (``1 / temperature``)."""
        return self.log_scale.exp()

    def logits(self, image_features: Tensor, prompt_features: Tensor) -> Tensor:
        """Scaled cosine similarities of images to the prompts.

        Args:
            image_features (Tensor): ``[N, D]`` unit-norm image features.
            prompt_features (Tensor): ``[2, D]`` from :meth:`forward`.

        Returns:
            Tensor: ``[N, 2]`` logits (column 0: high quality).
        """
        return clip_logits(image_features, prompt_features, self.logit_scale)
