# The embedded default set: scikit-image's photographs (one class each), simulated on the fly as
# realistic moving scenes: camera paths up to ~1 px/frame, objects crossing the view, light over
# a decade, dark current, threshold mismatch and shot noise (spikeclip.simulation.scene). Train,
# val and test crops come from disjoint regions of each photograph; no download needed. References
# are the expected spike rate at the centre frame (nominal_gain=1): dim scenes look dim.
window = 41
crop_size = 64
sim = dict(crop_size=crop_size, num_frames=window, nominal_gain=1.0, motion=dict(),
           objects=dict(), light=dict(mean_rate=(0.1, 0.6)), noise=dict())
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    # every epoch draws new windows (the epoch travels with the index to the workers)
    sampler=dict(type='EpochIndexSampler', shuffle=True),
    dataset=dict(type='SimulatedSpikeDataset', split='train', num_samples=512, seed=0, **sim))
val_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='SimulatedSpikeDataset', split='val', num_samples=128, seed=12345, **sim))
# Checkpoints are selected on 'val' and reported on 'test': disjoint regions of each photograph
# (datasets.default_images.split_region), and more windows, since the 12 photographs are few.
test_dataloader = dict(
    val_dataloader,
    dataset=dict(type='SimulatedSpikeDataset', split='test', num_samples=512, seed=54321, **sim))
val_evaluator = [dict(type='PSNR'), dict(type='SSIM'), dict(type='MAE'), dict(type='MSE')]
test_evaluator = val_evaluator
