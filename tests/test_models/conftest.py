"""Shared fixtures of the model tests: a tiny random CLIP saved to a local file, and loaded."""
import pytest

from spikeclip.models.clip import FrozenCLIP, save_tiny_clip


@pytest.fixture(scope='session')
def tiny_clip_path(tmp_path_factory) -> str:
    """Path of random ``'spikeclip-tiny'`` weights (seed 0), written once per session."""
    return save_tiny_clip(str(tmp_path_factory.mktemp('clip') / 'spikeclip_tiny.pth'), seed=0)


@pytest.fixture(scope='session')
def tiny_clip(tiny_clip_path) -> FrozenCLIP:
    """A ``FrozenCLIP`` of the tiny weights, shared by the session: do not modify it."""
    return FrozenCLIP(arch='spikeclip-tiny', pretrained=tiny_clip_path)
