"""The stage models through MMEngine's Runner, and their checkpoints' stage checks."""
import pytest
import torch

from spikeclip.apis import init_model
from spikeclip.models.stages import CoarseModel, PromptModel, RefineModel, load_stage_checkpoint
from spikeclip.utils.errors import CheckpointError, ConfigError, NonFiniteLossError


def test_each_stage_writes_its_stage_into_the_checkpoint(trained_stages):
    for stage in ('coarse', 'prompt', 'refine'):
        cfg, state = load_stage_checkpoint(trained_stages[stage], stage)
        assert state, stage
        assert not any(k.startswith('clip.') for k in state), 'frozen CLIP must not be saved'
    cfg, _ = load_stage_checkpoint(trained_stages['prompt'], 'prompt')
    assert cfg['type'] == 'PromptModel' and cfg['coarse']['type'] == 'MotionUNet'
    assert 'coarse_checkpoint' not in cfg or cfg['coarse_checkpoint'] is None


def test_refine_stage_combines_all_three_at_the_end(trained_stages):
    model = init_model(trained_stages['combined'], device='cpu')
    assert type(model).__name__ == 'SpikeCLIP'
    for stage, prefix in (('coarse', 'encoder.'), ('refine', 'refiner.')):
        _, state = load_stage_checkpoint(trained_stages[stage], stage)
        for k, v in state.items():
            if k.startswith(prefix):
                assert torch.equal(model.state_dict()[k], v), k


@pytest.mark.parametrize('stage,wrong', [('prompt', 'refine'), ('prompt', 'prompt')])
def test_later_stages_refuse_a_wrong_stage_checkpoint(trained_stages, tiny_clip_file, stage,
                                                      wrong):
    clip = dict(type='FrozenCLIP', arch='spikeclip-tiny', pretrained=tiny_clip_file)
    if stage == 'prompt':
        with pytest.raises(CheckpointError, match='stage 1'):
            PromptModel(clip=clip, coarse_checkpoint=trained_stages[wrong])
    with pytest.raises(CheckpointError, match='stage 2'):
        RefineModel(refiner=dict(type='UNetRefiner'), clip=clip,
                    prompt_checkpoint=trained_stages['coarse'])


def test_later_stages_refuse_a_missing_checkpoint(tmp_path, tiny_clip_file):
    clip = dict(type='FrozenCLIP', arch='spikeclip-tiny', pretrained=tiny_clip_file)
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(CheckpointError, match='nope.pth'):
        PromptModel(clip=clip, coarse_checkpoint=missing)
    with pytest.raises(CheckpointError, match='nope.pth'):
        RefineModel(refiner=dict(type='UNetRefiner'), clip=clip, prompt_checkpoint=missing)
    with pytest.raises(ConfigError, match='exactly one'):
        PromptModel(clip=clip)


def test_a_foreign_checkpoint_is_refused(tmp_path, tiny_clip_file):
    path = str(tmp_path / 'plain.pth')
    torch.save({'state_dict': {'encoder.w': torch.zeros(1)}}, path)
    clip = dict(type='FrozenCLIP', arch='spikeclip-tiny', pretrained=tiny_clip_file)
    with pytest.raises(CheckpointError, match='not a SpikeCLIP stage checkpoint'):
        PromptModel(clip=clip, coarse_checkpoint=path)


def test_coarse_model_modes_and_loss_errors():
    model = CoarseModel(encoder=dict(type='LRN', window=8, bin_size=2),
                        losses=[dict(type='L1Loss')])
    spikes = (torch.rand(2, 8, 9, 11) < 0.3).float()
    out = model(spikes, mode='tensor')
    assert out.shape == (2, 1, 9, 11)
    samples = model(spikes, mode='predict')
    assert samples[0].pred_img.shape == (1, 9, 11) and 'pred_score' not in samples[0]
    with pytest.raises(ConfigError, match=r"L1Loss \(loss_l1\) needs \['target'\]"):
        model(spikes, [type(samples[0])() for _ in range(2)], mode='loss')


def test_nan_loss_stops_with_the_term_named():
    model = CoarseModel(encoder=dict(type='LRN', window=8, bin_size=2),
                        losses=[dict(type='L1Loss')])
    with pytest.raises(NonFiniteLossError, match="'loss_l1' is nan at iteration"):
        model.parse_losses({'loss_l1': torch.tensor(float('nan'))})


def test_inputs_from_renames_a_loss_input():
    from spikeclip.models.stages.base import build_losses, compute_losses
    losses = build_losses([dict(type='L1Loss', name='loss_identity',
                                inputs_from=dict(target='coarse'))])
    pred, coarse = torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4)
    out = compute_losses(losses, dict(pred=pred, coarse=coarse, target=None))
    assert out['loss_identity'].item() == pytest.approx(1.0)
    with pytest.raises(ConfigError, match='inputs_from'):
        build_losses([dict(type='L1Loss', inputs_from=dict(labels='coarse'))])


def test_refine_stage_scores_the_identity_refiner_before_training(trained_stages):
    import glob
    import os.path as osp
    logs = glob.glob(osp.join(osp.dirname(trained_stages['refine']), '*', '*.log'))
    text = open(logs[0]).read()
    assert 'Epoch(val) [0]' in text  # the untrained (identity) refiner was validated
    assert text.index('Epoch(val) [0]') < text.index('Epoch(train)')
