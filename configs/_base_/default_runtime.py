# Modules are looked up in SpikeCLIP's registries first, then MMEngine's.
default_scope = 'spikeclip'

default_hooks = dict(
    # Measures iteration and data-loading time for the log's `time` and `data_time`.
    timer=dict(type='IterTimerHook'),
    # Channels-last weights: NHWC convolutions, much faster on CPU (oneDNN) and tensor cores.
    memory_format=dict(type='MemoryFormatHook', channels_last=True),
    # Latency, throughput, data-wait share, peak memory; GPU utilisation/memory/power via pynvml.
    device_metrics=dict(type='DeviceMetricsHook', interval=10),
    # Writes the text log, the JSON scalars and TensorBoard scalars every `interval` iterations.
    logger=dict(type='LoggerHook', interval=10),
    # Steps the learning-rate schedule.
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Saves `last` and the best checkpoint by the stage's main metric (set per stage) plus
    # `<stage>_best.pth`; never deletes a file outside the work dir (MMEngine's CheckpointHook
    # deletes the best checkpoint a resumed checkpoint names, wherever it is).
    checkpoint=dict(type='StageCheckpointHook', interval=1, max_keep_ckpts=2, save_last=True),
    # Sets the epoch of distributed samplers so every rank shuffles alike.
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # Validation and test image grids (TensorBoard; PNGs with tools/test.py --show-dir).
    visualization=dict(type='SpikeVisualizationHook'),
    # Refuses data whose class list does not fit the model's, before the first step is taken.
    class_names_check=dict(type='ClassNamesCheckHook'),
    # Random state follows (seed, iteration), so that a resumed run repeats an unbroken one.
    iter_seed=dict(type='IterSeedHook'),
)

custom_hooks = [
    # Stage, model config, class names, seed, versions and git commit into checkpoints/work dir.
    dict(type='StageInfoHook'),
]

env_cfg = dict(
    # cudnn autotuning: faster convolutions on fixed input sizes.
    cudnn_benchmark=True,
    # Multiprocessing start method of DataLoader workers and OpenCV threads.
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # torch.distributed backend ('nccl' on GPUs; 'gloo' on CPU).
    dist_cfg=dict(backend='nccl'),
)

# Metrics, images and graphs go to local files and TensorBoard (`make tensorboard`).
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
# Sends scalars and titled image grids (spikes, TFP, coarse, refined, reference, with PSNR;
# panels enlarged to at least `min_size` pixels) to `vis_backends`.
visualizer = dict(type='SpikeVisualizer', vis_backends=vis_backends, min_size=256)
# Iteration-based log window (smoothing of the printed values).
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=True)
# Logging verbosity.
log_level = 'INFO'
# Checkpoint to initialise from (weights only); None trains from scratch.
load_from = None
# Resume optimiser, scheduler and iteration state from the latest checkpoint (`--resume`).
resume = False
# Seed of every random generator; `deterministic=True` also fixes CUDA/cuDNN algorithms.
randomness = dict(seed=0, deterministic=False)
