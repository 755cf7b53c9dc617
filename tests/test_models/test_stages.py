"""The stage models through MMEngine's Runner, and their checkpoints' stage checks."""
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from PIL import Image

from spikeclip.apis import init_model
from spikeclip.datasets import load_class_names as load_class_names_
from spikeclip.models.stages import CoarseModel, PromptModel, RefineModel, load_stage_checkpoint
from spikeclip.registry import MODELS
from spikeclip.utils.checkpoint import load_checkpoint_file
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


def test_refine_refuses_a_clip_other_than_the_prompts_one(trained_stages, tiny_clip_file,
                                                          tmp_path):
    from spikeclip.models.clip import save_tiny_clip
    other = save_tiny_clip(str(tmp_path / 'other_clip.pth'), seed=1)  # same arch and width
    refiner = dict(type='UNetRefiner', base_channels=4, num_levels=2)
    with pytest.raises(CheckpointError, match=r'another CLIP.*weights [0-9a-f]{16}'):
        RefineModel(refiner=refiner, prompt_checkpoint=trained_stages['prompt'],
                    clip=dict(type='FrozenCLIP', arch='spikeclip-tiny', pretrained=other))
    with pytest.raises(CheckpointError, match='quick_gelu=True vs False'):
        RefineModel(refiner=refiner, prompt_checkpoint=trained_stages['prompt'],
                    clip=dict(type='FrozenCLIP', arch='spikeclip-tiny',
                              pretrained=tiny_clip_file, quick_gelu=True))
    model = RefineModel(refiner=refiner, prompt_checkpoint=trained_stages['prompt'],
                        clip=dict(type='FrozenCLIP', arch='spikeclip-tiny',
                                  pretrained=tiny_clip_file))
    assert model.export_cfg()['clip_identity'] == model.clip.identity
    # Rebuilding the combined model with other weights (e.g. a changed model.clip.pretrained)
    # is refused too.
    cfg = load_checkpoint_file(trained_stages['combined'])['meta']['spikeclip']['model']
    cfg = dict(cfg, clip=dict(cfg['clip'], pretrained=other))
    with DefaultScope.overwrite_default_scope('spikeclip'), \
            pytest.raises(CheckpointError, match='another CLIP'):
        MODELS.build(cfg)
    # So is another normalisation (issue 18: model.clip.normalize=grey was accepted silently).
    with pytest.raises(CheckpointError, match="another CLIP.*normalize='grey' vs 'per_channel'"):
        RefineModel(refiner=refiner, prompt_checkpoint=trained_stages['prompt'],
                    clip=dict(type='FrozenCLIP', arch='spikeclip-tiny',
                              pretrained=tiny_clip_file, normalize='grey'))
    cfg = load_checkpoint_file(trained_stages['combined'])['meta']['spikeclip']['model']
    cfg = dict(cfg, clip=dict(cfg['clip'], normalize='grey'))
    with DefaultScope.overwrite_default_scope('spikeclip'), \
            pytest.raises(CheckpointError, match="normalize='grey' vs 'per_channel'"):
        MODELS.build(cfg)


def _tiny_npz_model(tiny_clip_file, classify_crop):
    return CoarseModel(encoder=dict(type='LRN', in_frames=20, bin_size=4),
                       clip=dict(type='FrozenCLIP', arch='spikeclip-tiny',
                                 pretrained=tiny_clip_file),
                       class_names=['cat', 'dog', 'bird'], classify_crop=classify_crop,
                       data_preprocessor=dict(type='SpikeDataPreprocessor', window=20))


def test_infer_and_test_give_the_same_scores_on_one_npz(trained_tiny_clip_file, tmp_path):
    # The trained tiny CLIP: the random one's image features barely depend on the image
    # (docs/clip.md), so the crop and the whole frame would score alike.
    tiny_clip_file = trained_tiny_clip_file
    from mmengine.dataset import pseudo_collate

    from spikeclip.apis import infer_files
    from spikeclip.datasets import UHSRDataset
    from spikeclip.fileio import write_npz
    from spikeclip.simulation import simulate_spikes
    rng = np.random.default_rng(0)
    data = tmp_path / 'data' / 'test'
    data.mkdir(parents=True)
    spikes = simulate_spikes(rng.random((40, 46)), 20, gain=0.5, seed=0)
    write_npz(str(data / '0.npz'), spikes, 1, 'dog')
    torch.manual_seed(0)
    model = _tiny_npz_model(tiny_clip_file, classify_crop=24).eval()
    # tools/test.py: the dataset's 24x24 centre crop through the test step.
    dataset = UHSRDataset(str(tmp_path / 'data'), split='test', classes=['cat', 'dog', 'bird'],
                          crop_size=24)
    with torch.no_grad():
        tested = model.test_step(pseudo_collate([dataset[0]]))[0].pred_score
    # tools/infer.py on the whole 40x46 file: same scores, whole-frame image.
    entry = infer_files(model, [str(data / '0.npz')], str(tmp_path / 'out'), amp='none')[0]
    inferred = torch.tensor([t['score'] for t in entry['topk']])
    torch.testing.assert_close(inferred, tested.sort(descending=True).values)
    assert [t['label'] for t in entry['topk']] == tested.argsort(descending=True).tolist()
    assert Image.open(entry['image']).size == (46, 40)
    # Classifying the whole frame instead (the old behaviour) gives other scores.
    whole = _tiny_npz_model(tiny_clip_file, classify_crop=None).eval()
    whole.load_state_dict(model.state_dict())
    with torch.no_grad():
        full = whole(model.data_preprocessor(
            dict(inputs=[torch.from_numpy(spikes)]))['inputs'], mode='predict')[0].pred_score
    assert not torch.allclose(full, tested, atol=1e-4)


def test_prompt_stage_logs_drift_and_labels_its_baselines(trained_stages, tiny_clip_file):
    model = init_model(trained_stages['prompt'], device='cpu')
    spikes = (torch.rand(2, 41, 24, 24) < 0.3).float()  # the demo model's window
    samples = model(spikes, mode='predict')
    for key in ('pred_score', 'pred_score_handwritten', 'pred_score_zeroshot'):
        assert samples[0].get(key).shape == (12, ), key
    # The hand-written prompts on TFP images (true zero-shot) differ from those on stage-1 ones.
    assert not torch.allclose(samples[0].pred_score_zeroshot, samples[0].pred_score_handwritten)
    from spikeclip.structures import SpikeDataSample
    ds = [SpikeDataSample() for _ in range(2)]
    for s in ds:
        s.set_gt_label(1)
        s.set_field(torch.rand(1, 24, 24), 'gt_img')
    losses = model(spikes, ds, mode='loss')
    assert {'drift_hq', 'drift_lq', 'drift_class'} <= set(losses)
    fresh = PromptModel(clip=dict(type='FrozenCLIP', arch='spikeclip-tiny',
                                  pretrained=tiny_clip_file),
                        coarse_checkpoint=trained_stages['coarse'])
    drift0 = fresh(spikes, ds, mode='loss')
    assert float(drift0['drift_class']) == 0 and float(drift0['drift_hq']) == 0
    with torch.no_grad():
        fresh.class_prompt.ctx.add_(0.1 * fresh.class_prompt.ctx)
    assert float(fresh(spikes, ds, mode='loss')['drift_class']) == pytest.approx(0.1, rel=1e-4)
    # The parsed losses sum only the loss_* terms.
    total, log_vars = fresh.parse_losses(drift0)
    assert 'drift_class' in log_vars
    assert total.item() == pytest.approx((drift0['loss_hq_lq'] +
                                          drift0['loss_class_prompt']).item(), rel=1e-5)


def test_one_prompt_text_helper_everywhere(tiny_clip_file, trained_stages):
    from spikeclip.datasets import load_prompt_names
    from spikeclip.models.adapters import zero_shot_class_features
    names = ['cougarbody', 'car_side', 'Leopards']
    assert load_prompt_names(names) == ('cougarbody', 'car side', 'Leopards')
    pretty = ['cougar body', 'car', 'leopard']
    assert load_prompt_names(names, pretty) == tuple(pretty)
    with pytest.raises(ConfigError, match='2 names but there are 3 classes'):
        load_prompt_names(names, pretty[:2])
    ucaltech = load_prompt_names(load_class_names_('ucaltech'), 'ucaltech')
    assert len(ucaltech) == 101 and ucaltech[20] == 'cougar body' and ucaltech[-1] == 'background'
    clip = dict(type='FrozenCLIP', arch='spikeclip-tiny', pretrained=tiny_clip_file)
    coarse = CoarseModel(encoder=dict(type='TFP'), clip=clip, class_names=names,
                         prompt_names=pretty)
    expected = zero_shot_class_features(coarse.clip, names, 'a photo of a {}.', pretty)
    torch.testing.assert_close(coarse.class_features,
                               coarse.clip.encode_text([f'a photo of a {n}.' for n in pretty]))
    torch.testing.assert_close(coarse.class_features, expected)
    # Stage 2 takes the stage-1 prompt text for its baselines and its learned class prompts.
    prompt = PromptModel(clip=clip, coarse_checkpoint=trained_stages['coarse'],
                         class_names=names, prompt_names=pretty)
    torch.testing.assert_close(prompt.zeroshot_features, expected)
    assert prompt.class_prompt.prompt_names == pretty
    tokens = prompt.class_prompt.tokens
    torch.testing.assert_close(tokens, prompt.clip.tokenize([f'X X X X {n}.' for n in pretty]))
    assert prompt.export_cfg()['prompt_names'] == pretty


def test_prompt_stage_trains_through_configured_losses(trained_stages, tiny_clip_file):
    """Stage 2 takes losses=[...] like stages 1 and 3; its default is one loss per learner, and
    the hq_lq_weight/class_weight fields of older configs and checkpoints still weight them."""
    import torch.nn.functional as F

    from spikeclip.structures import SpikeDataSample
    clip = dict(type='FrozenCLIP', arch='spikeclip-tiny', pretrained=tiny_clip_file)
    spikes = (torch.rand(2, 41, 24, 24) < 0.3).float()
    ds = [SpikeDataSample() for _ in range(2)]
    for s in ds:
        s.set_gt_label(1)
        s.set_field(torch.rand(1, 24, 24), 'gt_img')
    default = PromptModel(clip=clip, coarse_checkpoint=trained_stages['coarse'])
    assert [c['type'] for c in default.export_cfg()['losses']] == ['HQLQPromptLoss',
                                                                   'ClassPromptLoss']
    base = default(spikes, ds, mode='loss')
    # The formula stage 2 used before it took losses=[...].
    with torch.no_grad():
        lq = default.clip.encode_image(default.encoder(spikes))
        hq = default.clip.encode_image(torch.stack([s.gt_img for s in ds]))
    hq_prompts, cls_prompts = default.prompt_features()
    logits = default.hq_lq.logits(torch.cat([hq, lq]), hq_prompts)
    assert base['loss_hq_lq'].item() == F.cross_entropy(
        logits, torch.tensor([0, 0, 1, 1])).item()
    assert base['loss_class_prompt'].item() == F.cross_entropy(
        default.clip.logits(lq, cls_prompts), torch.tensor([1, 1])).item()
    weighted = PromptModel(clip=clip, coarse_checkpoint=trained_stages['coarse'],
                           hq_lq_weight=2.0)
    weighted.load_state_dict(default.state_dict())
    assert weighted(spikes, ds, mode='loss')['loss_hq_lq'].item() == pytest.approx(
        2 * base['loss_hq_lq'].item(), rel=1e-6)
    only_class = PromptModel(clip=clip, coarse_checkpoint=trained_stages['coarse'],
                             losses=[dict(type='ClassPromptLoss', loss_weight=0.5)])
    only_class.load_state_dict(default.state_dict())
    out = only_class(spikes, ds, mode='loss')
    assert 'loss_hq_lq' not in out and 'drift_hq' in out
    assert out['loss_class_prompt'].item() == pytest.approx(
        0.5 * base['loss_class_prompt'].item(), rel=1e-6)
    # Clean images missing: the error says which field and how to provide it.
    with pytest.raises(ConfigError, match=r"HQLQPromptLoss \(loss_hq_lq\) needs "
                       r"\['hq_features'\].*clean images in the data samples field 'gt_img'"):
        default(spikes, [SpikeDataSample() for _ in range(2)], mode='loss')
    with pytest.raises(ConfigError, match='hq_lq_weight/class_weight'):
        PromptModel(clip=clip, coarse_checkpoint=trained_stages['coarse'], losses=[],
                    class_weight=3.0)
