# Stage 2 on U-CIFAR: the U-CALTECH recipe on U-CIFAR's 10 classes (clean images for the
# high-quality prompt: any folder of photographs, e.g. CIFAR-10's own, in data/hq_images).
_base_ = ['./prompt_ucaltech.py']

work_dir = 'work_dirs/ucifar/prompt'
data_root = 'data/U-CIFAR'
model = dict(coarse_checkpoint='work_dirs/ucifar/coarse/coarse_best.pth')
train_dataloader = dict(dataset=dict(dataset=dict(data_root=data_root, classes='ucifar')))
val_dataloader = dict(dataset=dict(dataset=dict(data_root=data_root, classes='ucifar')))
test_dataloader = dict(dataset=dict(dataset=dict(data_root=data_root, classes='ucifar')))
