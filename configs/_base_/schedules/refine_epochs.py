# Stage 3 trains the refiner only; the frozen stages run under no_grad.
max_epochs = 6
# float32: with bf16 autocast the refiner did not beat the identity on the demo (figures in
# docs/architecture.md). `enabled=True` trades that for speed.
optim_wrapper = dict(type='BF16OptimWrapper', enabled=False,
                     optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
