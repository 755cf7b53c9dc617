# The embedded default set: scikit-image's photographs (one class each), simulated on the fly.
# Train and test crops come from disjoint regions of each photograph; no download needed.
num_frames = 200
crop_size = 64
sim = dict(crop_size=crop_size, num_frames=num_frames, gain_range=(0.3, 0.8), motion_prob=0.5,
           max_speed=0.1,
           noise=dict(dark_current=0.002, threshold_mismatch=0.05, photons_per_frame=None))
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='SimulatedSpikeDataset', split='train', num_samples=1024, seed=0, **sim))
val_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='SimulatedSpikeDataset', split='test', num_samples=128, seed=12345, **sim))
test_dataloader = val_dataloader
val_evaluator = [dict(type='PSNR'), dict(type='SSIM'), dict(type='MAE'), dict(type='MSE')]
test_evaluator = val_evaluator
