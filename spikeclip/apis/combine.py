"""Combine the three stage checkpoints into one model file (spikes in, image and class out)."""
from typing import Dict

import torch
from mmengine.registry import DefaultScope

from ..models.clip.frozen_clip import check_clip_identity
from ..models.stages.base import load_stage_checkpoint, sub_state_dict
from ..models.stages.checkpoint_meta import save_model_file, stage_meta
from ..pretrained import source_reference
from ..registry import MODELS
from ..utils.checkpoint import load_checkpoint_file, load_weights
from ..utils.env import collect_env
from ..utils.errors import CheckpointError


def _same_weights(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(
        a[k].shape == b[k].shape and torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def _check_part(name: str, cfg_a, sd_a, path_a: str, cfg_b, sd_b, path_b: str) -> None:
    if cfg_a != cfg_b:
        raise CheckpointError(f'{path_b} was trained with another {name} than {path_a}: '
                              f'{cfg_b} vs {cfg_a}')
    if not _same_weights(sub_state_dict(sd_a, name), sub_state_dict(sd_b, name)):
        raise CheckpointError(f'{path_b} holds other {name} weights than {path_a}: it was '
                              f'trained on another {"stage-1" if name == "encoder" else "stage-2"}'
                              ' checkpoint')


def combine_checkpoints(coarse: str, prompt: str, refine: str, out: str) -> dict:
    """Check that the three stage checkpoints belong together and write the combined file.

    The combined file holds every stage's weights (the frozen CLIP excepted: its config names
    the weights), the self-contained ``SpikeCLIP`` model config, the class names, the source
    checkpoints with their configs, and the library versions.

    Args:
        coarse (str): Stage-1 checkpoint.
        prompt (str): Stage-2 checkpoint (trained on ``coarse``).
        refine (str): Stage-3 checkpoint (trained on ``prompt``).
        out (str): Combined model file, written atomically.

    Returns:
        dict: The combined model config.

    Raises:
        CheckpointError: A missing stage, a checkpoint of the wrong stage, checkpoints that were
            not trained on each other or with different CLIPs (architecture, activation or
            weights: the prompts mean nothing to another CLIP), or weights whose shapes do not
            fit.
    """
    c_cfg, c_sd = load_stage_checkpoint(coarse, 'coarse')
    p_cfg, p_sd = load_stage_checkpoint(prompt, 'prompt')
    r_cfg, r_sd = load_stage_checkpoint(refine, 'refine', resolve=True)  # builds its CLIP
    _check_part('encoder', c_cfg['encoder'], c_sd, coarse, p_cfg['coarse'], p_sd, prompt)
    _check_part('encoder', c_cfg['encoder'], c_sd, coarse, r_cfg['parts']['encoder'], r_sd,
                refine)
    for name in ('hq_lq', 'class_prompt'):
        if p_cfg.get(name) is not None:
            _check_part(name, p_cfg[name], p_sd, prompt, r_cfg['parts'].get(name), r_sd, refine)
    if p_cfg.get('clip_identity') and r_cfg.get('clip_identity'):  # older files lack them
        check_clip_identity(p_cfg['clip_identity'], r_cfg['clip_identity'],
                            f'{refine} (stage 3)', prompt)
    # Building the combined model checks its CLIP against the one stage 3 recorded.
    model_cfg = dict(r_cfg, type='SpikeCLIP', losses=None)
    state = {f'encoder.{k}': v for k, v in sub_state_dict(c_sd, 'encoder').items()}
    for name in ('hq_lq', 'class_prompt'):
        state.update({f'{name}.{k}': v for k, v in sub_state_dict(p_sd, name).items()})
    state.update({f'refiner.{k}': v for k, v in sub_state_dict(r_sd, 'refiner').items()})
    with DefaultScope.overwrite_default_scope('spikeclip'):
        model = MODELS.build(model_cfg)
    load_weights(model, state, f'the stage checkpoints {coarse}, {prompt}, {refine}',
                 'the combined model')
    sources = {}
    for stage, path in (('coarse', coarse), ('prompt', prompt), ('refine', refine)):
        meta = load_checkpoint_file(path).get('meta', {})
        sources[stage] = dict(path=source_reference(path), config=meta.get('cfg'),
                              epoch=meta.get('epoch'), iter=meta.get('iter'))
    save_model_file(out, model.state_dict(), stage_meta('pipeline', model_cfg,
                                                        model_cfg.get('class_names'), sources,
                                                        env=collect_env()))
    return model_cfg
