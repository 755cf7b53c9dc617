# Stage 3 on U-CIFAR: the U-CALTECH recipe on U-CIFAR's 10 classes.
_base_ = ['./refine_ucaltech.py']

work_dir = 'work_dirs/ucifar/refine'
data_root = 'data/U-CIFAR'
model = dict(prompt_checkpoint='work_dirs/ucifar/prompt/prompt_best.pth')
train_dataloader = dict(dataset=dict(data_root=data_root, classes='ucifar'))
val_dataloader = dict(dataset=dict(data_root=data_root, classes='ucifar'))
test_dataloader = dict(dataset=dict(data_root=data_root, classes='ucifar'))
