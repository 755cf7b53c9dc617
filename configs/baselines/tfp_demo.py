# Non-learned baseline TFP: mean spike rate over the 32 centre frames, on the demo test
# set. gain=2.0 maps spikes per frame to the reference brightness of the simulator's nominal light
# level (0.5). `python tools/test.py configs/baselines/tfp_demo.py` (no checkpoint).
_base_ = ['../_base_/datasets/demo.py', '../_base_/default_runtime.py']

work_dir = 'work_dirs/baselines/tfp_demo'
model = dict(
    type='CoarseModel',
    encoder=dict(type='TFP', window=32, gain=2.0),
    data_preprocessor=dict(type='SpikeDataPreprocessor', window=200))
test_cfg = dict()
