# Realistic moving scenes simulated on the fly (offline): every photograph shipped inside the
# installed packages except the held-out test scenes, and dead-leaves images. Per window: camera
# paths up to ~1 px/frame with rotation, zoom, acceleration and shake; objects crossing the view;
# mean spike rates 0.02-0.6 per frame; the sensor noise calibrated to physical cameras (the
# simulator's defaults, docs/simulation.md); one window in ten from a sensor that resets to zero
# instead of subtracting the threshold (some simulators do). References are the expected spike
# rate at the centre frame (nominal_gain=1, never clipped). Validation and test use photographs
# and dead-leaves images that no training sees, different ones for each.
window = 41
images = ['packaged', dict(type='dead_leaves', num_images=32, size=384)]
sim = dict(images=images, num_frames=window, nominal_gain=1.0,
           motion=dict(), objects=dict(), light=dict(mean_rate=(0.02, 0.6)),
           noise=dict(reset_zero_prob=0.1))
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    # every epoch draws new windows (the epoch travels with the index to the workers)
    sampler=dict(type='EpochIndexSampler', shuffle=True),
    dataset=dict(type='SimulatedSpikeDataset', split='train', num_samples=4000, crop_size=96,
                 seed=0, **sim))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='SimulatedSpikeDataset', split='val', num_samples=96, crop_size=128,
                 seed=12345, **sim))
# Checkpoints are selected on 'val' (datasets.image_sources.VAL_PHOTOS and their own dead-leaves
# bank) and reported on 'test' (the held-out scenes of tools/benchmark_quality.py).
test_dataloader = dict(
    val_dataloader,
    dataset=dict(type='SimulatedSpikeDataset', split='test', num_samples=96, crop_size=128,
                 seed=54321, **sim))
# PSNR/SSIM of the calibrated output (tools/benchmark_quality.py also scores fitted gains).
val_evaluator = [dict(type='PSNR'), dict(type='SSIM'), dict(type='MAE'), dict(type='MSE')]
test_evaluator = val_evaluator
