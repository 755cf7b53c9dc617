# Stage 2 learns only prompt embeddings: a few epochs of Adam at a higher rate.
max_epochs = 4
# bf16 autocast forward (no loss scaling needed; CPU and GPU); weights stay float32.
optim_wrapper = dict(type='BF16OptimWrapper',
                     optimizer=dict(type='AdamW', lr=5e-3, weight_decay=0.0))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-4, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
