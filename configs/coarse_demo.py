# Stage 1 on the embedded default data (offline), with the recipe for real recordings
# (configs/coarse_real.py) at demo size: MotionUNet on a 41-frame window, trained on realistic
# moving scenes of the twelve photographs' training regions. `python tools/train.py
# configs/coarse_demo.py`
_base_ = ['_base_/models/motion_unet.py', '_base_/datasets/demo.py',
          '_base_/schedules/adamw_epochs.py', '_base_/default_runtime.py']

work_dir = 'work_dirs/demo/coarse'
model = dict(
    class_names='demo',
    encoder=dict(channels=(24, 48, 96)),
    losses=[
        dict(type='CharbonnierLoss', loss_weight=1.0, relative=True),
        dict(type='SSIMLoss', loss_weight=0.1, relative=True),
    ])
default_hooks = dict(checkpoint=dict(type='StageCheckpointHook', save_best='PSNR', rule='greater'))
