# Stage 3 for real recordings: a residual UNet refines the frozen stage-1 image of the realistic
# simulation, with fidelity to the reference (relative losses, as stage 1), an identity term to
# the coarse image, and the high-quality prompt of stage 2 through frozen CLIP ViT-B/32.
#   python tools/train.py configs/refine_real.py   (after configs/prompt_real.py)
# It writes work_dirs/real/combined_model.pth, which tools/infer.py takes like any checkpoint.
_base_ = ['_base_/datasets/realistic.py', '_base_/schedules/refine_epochs.py',
          '_base_/default_runtime.py', '_base_/models/clip_vit_b32.py']

work_dir = 'work_dirs/real/refine'
model = dict(
    type='RefineModel',
    clip={{_base_.clip}},
    prompt_checkpoint='work_dirs/real/prompt/prompt_best.pth',
    refiner=dict(type='UNetRefiner', base_channels=32, num_levels=3),
    fidelity_to='auto',
    losses=[
        dict(type='CharbonnierLoss', name='loss_fidelity', loss_weight=1.0, relative=True),
        dict(type='SSIMLoss', loss_weight=0.1, relative=True),
        dict(type='L1Loss', name='loss_identity', loss_weight=0.05, relative=True,
             inputs_from=dict(target='coarse')),
        dict(type='PromptQualityLoss', loss_weight=0.01),
    ])
train_dataloader = dict(dataset=dict(num_samples=2000))
val_evaluator = [
    dict(type='PSNR'), dict(type='SSIM'),
    dict(type='PSNR', pred_key='pred_coarse', prefix='coarse'),
    dict(type='SSIM', pred_key='pred_coarse', prefix='coarse'),
    dict(type='PromptSeparation'),
]
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(type='StageCheckpointHook', save_best='PSNR', rule='greater'))
custom_hooks = [
    dict(type='StageInfoHook'),
    # Writes <work_dir>/../combined_model.pth from the three stages when training ends.
    dict(type='CombineCheckpointsHook'),
    # Scores the identity refiner first, so the best checkpoint never loses to the coarse image.
    dict(type='ValidateBeforeTrainHook'),
]
