# Stage 1 on U-CIFAR: the U-CALTECH recipe (CLIP class loss + self-supervised TFP loss) on
# U-CIFAR's 10 classes.
_base_ = ['./coarse_ucaltech.py']

work_dir = 'work_dirs/ucifar/coarse'
data_root = 'data/U-CIFAR'
model = dict(class_names='ucifar', prompt_names=None)  # U-CIFAR's names are words already
train_dataloader = dict(dataset=dict(data_root=data_root, classes='ucifar'))
val_dataloader = dict(dataset=dict(data_root=data_root, classes='ucifar'))
test_dataloader = dict(dataset=dict(data_root=data_root, classes='ucifar'))
