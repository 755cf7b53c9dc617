# A paired set: data/paired/spike/<name>.dat + data/paired/gt/<name>.png, the layout of REDS-based
# spike reconstruction sets and of `tools/simulate_spikes.py IMAGE_DIR data/paired`.
data_root = 'data/paired'
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='PairedSpikeDataset', data_root=data_root, height=250, width=400,
                 window=None))  # every frame; the model's data preprocessor takes its window
test_evaluator = [dict(type='PSNR'), dict(type='SSIM'), dict(type='MAE'), dict(type='MSE')]
test_cfg = dict()
