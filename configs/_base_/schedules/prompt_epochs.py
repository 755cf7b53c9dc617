# Stage 2 learns only prompt token embeddings, whose elements are ~0.01-0.02 in CLIP ViT-B/32.
# The optimiser is CoOp's (Zhou et al., "Learning to Prompt for Vision-Language Models", IJCV
# 2022: SGD, lr 2e-3, momentum 0.9, weight decay 5e-4, cosine decay); Adam at 5e-3 moves every
# element by ~5e-3 a step and takes the contexts off the word embeddings within tens of steps.
# The contexts start from words, so CoOp's warm-up epoch (for random contexts) is left out.
# The train log reports drift_hq / drift_lq / drift_class: ||ctx - words|| / ||words||.
max_epochs = 4
# bf16 autocast forward (no loss scaling needed; CPU and GPU); weights stay float32.
optim_wrapper = dict(type='BF16OptimWrapper',
                     optimizer=dict(type='SGD', lr=2e-3, momentum=0.9, weight_decay=5e-4))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.0, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
