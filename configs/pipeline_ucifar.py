# Evaluate a combined model (tools/combine_checkpoints.py) on the ucifar test split:
#   python tools/test.py configs/pipeline_ucifar.py \
#       work_dirs/ucifar/combined_model.pth --show-dir vis
# The model is rebuilt from the config stored in the checkpoint.
_base_ = ['./pipeline_ucaltech.py']

work_dir = 'work_dirs/ucifar/test'
data_root = 'data/U-CIFAR'
train_dataloader = dict(dataset=dict(data_root=data_root, classes='ucifar'))
val_dataloader = dict(dataset=dict(data_root=data_root, classes='ucifar'))
test_dataloader = dict(dataset=dict(data_root=data_root, classes='ucifar'))
