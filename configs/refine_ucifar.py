# Stage 3 on U-CIFAR (no references): fidelity to the coarse image, the high-quality prompt
# loss and the class prompt loss through frozen CLIP ViT-B/32 and the stage-2 prompts.
_base_ = ['_base_/datasets/ucifar.py', '_base_/schedules/refine_epochs.py',
          '_base_/default_runtime.py', '_base_/models/clip_vit_b32.py']

work_dir = 'work_dirs/ucifar/refine'
model = dict(
    type='RefineModel',
    clip={{_base_.clip}},
    prompt_checkpoint='work_dirs/ucifar/prompt/prompt_best.pth',
    refiner=dict(type='UNetRefiner', base_channels=32, num_levels=3),
    fidelity_to='coarse',
    losses=[
        dict(type='CharbonnierLoss', name='loss_fidelity', loss_weight=1.0),
        dict(type='PromptQualityLoss', loss_weight=0.1),
        dict(type='CLIPClassLoss', loss_weight=0.1),
    ])
val_evaluator = [dict(type='Accuracy', topk=(1, 5))]
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(type='StageCheckpointHook', save_best='top1', rule='greater'))
custom_hooks = [
    dict(type='StageInfoHook'),
    # Writes <work_dir>/../combined_model.pth from the three stages when training ends.
    dict(type='CombineCheckpointsHook'),
    # Scores the identity refiner first, so the best checkpoint never loses to the coarse image.
    dict(type='ValidateBeforeTrainHook'),
]
