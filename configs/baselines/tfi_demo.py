# Non-learned baseline TFI: inverse inter-spike interval at the centre frame, on the demo test
# set. gain=1.0: the demo's references are spike rates (nominal gain 1).
# `python tools/test.py configs/baselines/tfi_demo.py` (no checkpoint).
_base_ = ['../_base_/datasets/demo.py', '../_base_/default_runtime.py']

work_dir = 'work_dirs/baselines/tfi_demo'
model = dict(
    type='CoarseModel',
    encoder=dict(type='TFI', gain=1.0),
    data_preprocessor=dict(type='SpikeDataPreprocessor', window=41))
test_cfg = dict()
