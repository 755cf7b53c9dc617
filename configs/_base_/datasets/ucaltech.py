# U-CALTECH: real spike recordings of Caltech-101 (101 classes incl. background), no references.
# `make data` puts it under data/; files 0-4999 are the training set, the rest the test set.
# Checkpoints are selected on `val`, every 10th training file held out (UHSRDataset.val_every);
# `test` is reported once, by tools/test.py on the selected model.
data_root = 'data/U-CALTECH'
crop_size = 224
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='UHSRDataset', data_root=data_root, split='train', classes='ucaltech',
                 crop_size=crop_size))
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='UHSRDataset', data_root=data_root, split='val', classes='ucaltech',
                 crop_size=crop_size))
test_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='UHSRDataset', data_root=data_root, split='test', classes='ucaltech',
                 crop_size=crop_size))
val_evaluator = [dict(type='Accuracy', topk=(1, 5))]
test_evaluator = val_evaluator
