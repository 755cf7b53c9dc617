# Non-learned baseline TFP: mean spike rate over the 21 centre frames of the 41-frame window, on
# the demo test set. gain=1.0: the demo's references are spike rates (nominal gain 1).
# `python tools/test.py configs/baselines/tfp_demo.py` (no checkpoint).
_base_ = ['../_base_/datasets/demo.py', '../_base_/default_runtime.py']

work_dir = 'work_dirs/baselines/tfp_demo'
model = dict(
    type='CoarseModel',
    encoder=dict(type='TFP', window=21, gain=1.0),
    data_preprocessor=dict(type='SpikeDataPreprocessor', window=41))
test_cfg = dict()
