# Stage 1 on U-CALTECH as in the SpikeCLIP paper: CLIP class loss through frozen ViT-B/32 plus a
# self-supervised loss against TFP of the same spikes (the recordings have no reference images).
_base_ = ['_base_/models/lrn.py', '_base_/datasets/ucaltech.py',
          '_base_/schedules/adamw_epochs.py', '_base_/default_runtime.py',
          '_base_/models/clip_vit_b32.py']

work_dir = 'work_dirs/ucaltech/coarse'
model = dict(
    clip={{_base_.clip}},
    class_names='ucaltech',
    # Prompt text of each class (cougarbody -> 'cougar body', ...), CoOp's names.
    prompt_names='ucaltech',
    # Inference on whole 250x250 recordings classifies the 224 centre crop, as tested.
    classify_crop={{_base_.crop_size}},
    losses=[
        dict(type='CLIPClassLoss', loss_weight=1.0),
        dict(type='SelfSupervisedLoss', target='tfp', loss_weight=1.0),
    ])
default_hooks = dict(checkpoint=dict(type='StageCheckpointHook', save_best='top1', rule='greater'))
