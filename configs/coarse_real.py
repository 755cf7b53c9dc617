# Stage 1 for real spike-camera recordings: MotionUNet on a 41-frame window, trained on realistic
# moving scenes simulated on the fly (configs/_base_/datasets/realistic.py). This recipe produced
# the shipped pretrained model (`pretrained:real`, docs/pretrained.md):
#   python tools/train.py configs/coarse_real.py
# References are spike rates (nominal gain 1); the losses divide by each reference's mean so that
# dim and bright scenes weigh alike.
_base_ = ['_base_/models/motion_unet.py', '_base_/datasets/realistic.py',
          '_base_/schedules/adamw_epochs.py', '_base_/default_runtime.py']

work_dir = 'work_dirs/real/coarse'
model = dict(
    losses=[
        dict(type='CharbonnierLoss', loss_weight=1.0, relative=True),
        dict(type='SSIMLoss', loss_weight=0.1, relative=True),
    ])
max_epochs = 24
train_cfg = dict(max_epochs=max_epochs, val_interval=2)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=2e-5, by_epoch=True,
                        convert_to_iter_based=True)]
default_hooks = dict(checkpoint=dict(type='StageCheckpointHook', save_best='PSNR', rule='greater'))
