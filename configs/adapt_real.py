# Adapt stage 1 to your own camera, without reference images: fine-tune `pretrained:real` on a
# folder of your unlabelled .dat / .npz recordings (docs/adaptation.md):
#   python tools/train.py configs/adapt_real.py \
#       --cfg-options train_dataloader.dataset.data_root=my_recordings/
# The stream supervises itself (TemporalBlindSpotLoss: predict the spike rate of 8 held-out frames
# from the frames around them, 8 guard frames each side left out); an anchor to the frozen starting
# model keeps what the recordings cannot teach. Validation is the same blind-spot error on the
# last 10% of every recording (frames training never draws from); the best checkpoint by it
# (`coarse_best.pth`, the starting model's score included) is the adapted model, and training
# stops once it has not improved for `patience` validations. The output is an ordinary stage-1
# checkpoint for tools/infer.py, the video tools and later stages. `.dat` files are read as
# 250x400 frames (set train/val_dataloader.dataset.height/width for other sensors).
_base_ = ['_base_/default_runtime.py']

# The model to adapt: a stage-1 checkpoint or `pretrained:<name>` (its encoder, weights and data
# preprocessor start the run; its frozen copy is the anchor). `window` is its input window.
pretrained = 'pretrained:real'
data_root = 'my_recordings/'
work_dir = 'work_dirs/real/adapt'
window = 41
held_out, guard = 8, 8
context = held_out + 2 * guard  # frames a clip holds beyond the model's window
model = dict(
    type='CoarseModel',
    coarse_checkpoint=pretrained,
    losses=[
        dict(type='TemporalBlindSpotLoss', window=window, held_out=held_out, guard=guard),
        dict(type='AnchorLoss', teacher=pretrained, loss_weight=0.1),
    ])
# Short and gentle: the starting model is good; the recordings refine it.
max_epochs = 8
optim_wrapper = dict(type='BF16OptimWrapper',
                     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    # every epoch draws new clips (the epoch travels with the index to the workers)
    sampler=dict(type='EpochIndexSampler', shuffle=True),
    dataset=dict(type='RecordingDataset', data_root=data_root, window=window, context=context,
                 crop_size=96, num_samples=320, frames=(0.0, 0.9)))
# The same folder (it follows the training data_root override), the last 10% of every recording,
# as blind-spot pairs: input around the gap, `gt_img` the held-out frames' spike rate.
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='RecordingDataset', data_root=data_root, window=window, context=context,
                 crop_size=128, num_samples=64, frames=(0.9, 1.0),
                 blind_spot=dict(held_out=held_out, guard=guard), seed=12345))
test_dataloader = val_dataloader
# The blind-spot error on held-out frames: `blind_spot/MSE` (lower is better) picks the checkpoint.
val_evaluator = [dict(type='MSE', prefix='blind_spot'), dict(type='PSNR', prefix='blind_spot')]
test_evaluator = val_evaluator
default_hooks = dict(
    checkpoint=dict(type='StageCheckpointHook', save_best='blind_spot/MSE', rule='less'))
custom_hooks = [
    dict(type='StageInfoHook'),
    # Scores the starting model first ("epoch 0"), so the adapted model never ends worse on the
    # held-out frames than the one it started from.
    dict(type='ValidateBeforeTrainHook'),
    # Stops once `blind_spot/MSE` has not improved for `patience` validations.
    dict(type='EarlyStoppingHook', monitor='blind_spot/MSE', rule='less', min_delta=0.0,
         patience=2),
]
