# Evaluate a combined model (tools/combine_checkpoints.py) on the ucaltech test split:
#   python tools/test.py configs/pipeline_ucaltech.py \
#       work_dirs/ucaltech/combined_model.pth --show-dir vis
# The model is rebuilt from the config stored in the checkpoint.
_base_ = ['_base_/datasets/ucaltech.py', '_base_/default_runtime.py']

work_dir = 'work_dirs/ucaltech/test'
model = dict(type='SpikeCLIP', from_checkpoint=True)
