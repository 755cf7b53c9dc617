# Non-learned baseline TFI: inverse inter-spike interval at the centre frame, on the paired
# test set (its 41 centre frames).
# gain=1.0 gives spikes per frame, the reference brightness of tools/simulate_spikes.py's
# default (rate) references. `python tools/test.py configs/baselines/tfi_paired.py`
_base_ = ['../_base_/datasets/paired.py', '../_base_/default_runtime.py']

work_dir = 'work_dirs/baselines/tfi_paired'
model = dict(
    type='CoarseModel',
    encoder=dict(type='TFI', gain=1.0),
    data_preprocessor=dict(type='SpikeDataPreprocessor', window=41))
test_cfg = dict()
