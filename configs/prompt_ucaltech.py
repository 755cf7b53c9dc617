# Stage 2 on the U-CALTECH: high/low-quality prompts (an unpaired folder of clean images,
# data/hq_images by default, vs frozen stage-1 output) and class prompts, around CLIP ViT-B/32.
_base_ = ['_base_/datasets/ucaltech.py', '_base_/schedules/prompt_epochs.py',
          '_base_/default_runtime.py', '_base_/models/clip_vit_b32.py']

work_dir = 'work_dirs/ucaltech/prompt'
model = dict(
    type='PromptModel',
    clip={{_base_.clip}},
    coarse_checkpoint='work_dirs/ucaltech/coarse/coarse_best.pth',
    hq_lq=dict(type='HQLQPromptLearner'),
    class_prompt=dict(type='ClassPromptLearner', num_ctx=4),
    hq_source='hq_img')
# Clean images for the high-quality prompt: a folder of photographs that are not the recordings'
# source pictures (not Caltech-101 / CIFAR: docs/clip.md), split 80/10/10 like the recordings so
# that the test split's high-quality side is never an image that training or selection saw.
hq_image_dir = 'data/hq_images'
# EpochIndexSampler: each epoch pairs the spike samples with another draw of the clean images.
train_dataloader = dict(sampler=dict(type='EpochIndexSampler', shuffle=True),
                        dataset=dict(_delete_=True, type='UnpairedImageDataset',
                                     dataset={{_base_.train_dataloader.dataset}},
                                     image_dir=hq_image_dir, split='train'))
val_dataloader = dict(dataset=dict(_delete_=True, type='UnpairedImageDataset',
                                   dataset={{_base_.val_dataloader.dataset}},
                                   image_dir=hq_image_dir, split='val'))
test_dataloader = dict(dataset=dict(_delete_=True, type='UnpairedImageDataset',
                                    dataset={{_base_.test_dataloader.dataset}},
                                    image_dir=hq_image_dir, split='test'))
val_evaluator = [
    # Learned class prompts on the stage-1 image (the selection metric).
    dict(type='Accuracy', topk=(1, 5)),
    # Hand-written prompts on the stage-1 image (not zero-shot: stage 1 learned to match them).
    dict(type='Accuracy', topk=(1, 5), score_key='pred_score_handwritten', prefix='handwritten'),
    # True zero-shot CLIP: hand-written prompts on TFP images of the same spikes.
    dict(type='Accuracy', topk=(1, 5), score_key='pred_score_zeroshot', prefix='zeroshot'),
    dict(type='PromptSeparation'),
]
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(type='StageCheckpointHook', save_best='top1', rule='greater'))
