# Evaluate a combined model (tools/combine_checkpoints.py) on the ucifar test split:
#   python tools/test.py configs/pipeline_ucifar.py \
#       work_dirs/ucifar/combined_model.pth --show-dir vis
# The model is rebuilt from the config stored in the checkpoint.
_base_ = ['_base_/datasets/ucifar.py', '_base_/default_runtime.py']

work_dir = 'work_dirs/ucifar/test'
model = dict(type='SpikeCLIP', from_checkpoint=True)
