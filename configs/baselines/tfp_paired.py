# Non-learned baseline TFP: mean spike rate over the 21 centre frames of the 41-frame window,
# on the paired test set.
# gain=1.0 gives spikes per frame, the reference brightness of tools/simulate_spikes.py's
# default (rate) references. `python tools/test.py configs/baselines/tfp_paired.py`
_base_ = ['../_base_/datasets/paired.py', '../_base_/default_runtime.py']

work_dir = 'work_dirs/baselines/tfp_paired'
model = dict(
    type='CoarseModel',
    encoder=dict(type='TFP', window=21, gain=1.0),
    data_preprocessor=dict(type='SpikeDataPreprocessor', window=41))
test_cfg = dict()
