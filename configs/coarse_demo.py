# Stage 1 on the embedded default data (offline): supervised losses against the simulated
# reference images. `python tools/train.py configs/coarse_demo.py`
_base_ = ['_base_/models/lrn.py', '_base_/datasets/demo.py', '_base_/schedules/adamw_epochs.py',
          '_base_/default_runtime.py']

work_dir = 'work_dirs/demo/coarse'
model = dict(
    class_names='demo',
    losses=[
        dict(type='CharbonnierLoss', loss_weight=1.0),
        dict(type='SSIMLoss', loss_weight=0.2),
        dict(type='GradientLoss', loss_weight=0.2),
    ])
default_hooks = dict(checkpoint=dict(type='StageCheckpointHook', save_best='PSNR', rule='greater'))
