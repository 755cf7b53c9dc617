"""Fixtures of the model tests: the tiny CLIP with random and with trained weights, loaded once."""
import pytest

from spikeclip.models.clip import FrozenCLIP


@pytest.fixture(scope='session')
def tiny_clip_path(tiny_clip_file) -> str:
    """Path of random ``'spikeclip-tiny'`` weights (seed 0), written once per session."""
    return tiny_clip_file


@pytest.fixture(scope='session')
def tiny_clip(tiny_clip_file) -> FrozenCLIP:
    """A ``FrozenCLIP`` of the tiny weights, shared by the session: do not modify it."""
    return FrozenCLIP(arch='spikeclip-tiny', pretrained=tiny_clip_file)


@pytest.fixture(scope='session')
def trained_tiny_clip(trained_tiny_clip_file) -> FrozenCLIP:
    """A ``FrozenCLIP`` of the trained tiny CLIP (the demo's), shared: do not modify it."""
    return FrozenCLIP(arch='spikeclip-tiny', pretrained=trained_tiny_clip_file)
