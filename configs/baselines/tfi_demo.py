# Non-learned baseline TFI: inverse inter-spike interval at the centre frame, on the demo test
# set. gain=2.0 maps spikes per frame to the reference brightness of the simulator's nominal light
# level (0.5). `python tools/test.py configs/baselines/tfi_demo.py` (no checkpoint).
_base_ = ['../_base_/datasets/demo.py', '../_base_/default_runtime.py']

work_dir = 'work_dirs/baselines/tfi_demo'
model = dict(
    type='CoarseModel',
    encoder=dict(type='TFI', gain=2.0),
    data_preprocessor=dict(type='SpikeDataPreprocessor', window=200))
test_cfg = dict()
