# Stage 3 on the embedded default data: a residual UNet refines the frozen coarse image, with
# fidelity to the reference, an identity term to the coarse image, and the frozen stage-2 prompts
# of the tiny CLIP trained on the twelve photographs.
_base_ = ['_base_/datasets/demo.py', '_base_/schedules/refine_epochs.py',
          '_base_/default_runtime.py', '_base_/models/clip_tiny.py']

work_dir = 'work_dirs/demo/refine'
model = dict(
    type='RefineModel',
    clip={{_base_.clip}},
    prompt_checkpoint='work_dirs/demo/prompt/prompt_best.pth',
    refiner=dict(type='UNetRefiner', base_channels=16, num_levels=3),
    fidelity_to='auto',
    # Fidelity and SSIM relative to the reference's mean, as in stage 1: the references are
    # spike rates, so dim and bright scenes weigh alike. The CLIP terms (the tiny CLIP's
    # high-quality prompt and class prompts from stage 2) are small: at 0.01 they outweighed the
    # fidelity terms on dim scenes and cost PSNR; at 0.001 the refiner gains PSNR over the coarse
    # image and the high-quality probability rises (README, "The demo's tiny CLIP").
    losses=[
        dict(type='CharbonnierLoss', name='loss_fidelity', loss_weight=1.0, relative=True),
        dict(type='SSIMLoss', loss_weight=0.2, relative=True),
        dict(type='L1Loss', name='loss_identity', loss_weight=0.05,
             inputs_from=dict(target='coarse')),
        dict(type='PromptQualityLoss', loss_weight=0.001),
        dict(type='CLIPClassLoss', loss_weight=0.001),
    ])
val_evaluator = [
    dict(type='PSNR'), dict(type='SSIM'), dict(type='MAE'), dict(type='MSE'),
    dict(type='PSNR', pred_key='pred_coarse', prefix='coarse'),
    dict(type='SSIM', pred_key='pred_coarse', prefix='coarse'),
    dict(type='Accuracy', topk=(1, 5)),
]
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(lr=5e-4))
default_hooks = dict(checkpoint=dict(type='StageCheckpointHook', save_best='PSNR', rule='greater'))
custom_hooks = [
    dict(type='StageInfoHook'),
    # Writes <work_dir>/../combined_model.pth from the three stages when training ends.
    dict(type='CombineCheckpointsHook'),
    # Scores the identity refiner first, so the best checkpoint never loses to the coarse image.
    dict(type='ValidateBeforeTrainHook'),
]
