# Stage 2 for real recordings: high/low-quality prompts around frozen CLIP ViT-B/32 (OpenAI
# weights), learned on the realistic simulation: the clean references are the high-quality set,
# the frozen stage-1 output of the same windows the low-quality one. No classes (real recordings
# have none). Stage 1 defaults to the shipped pretrained model:
#   python tools/train.py configs/prompt_real.py
_base_ = ['_base_/datasets/realistic.py', '_base_/schedules/prompt_epochs.py',
          '_base_/default_runtime.py', '_base_/models/clip_vit_b32.py']

work_dir = 'work_dirs/real/prompt'
model = dict(
    type='PromptModel',
    clip={{_base_.clip}},
    coarse_checkpoint='pretrained:real-short',  # stage 2 reads 41-frame windows
    hq_lq=dict(type='HQLQPromptLearner'),
    class_prompt=None)
train_dataloader = dict(dataset=dict(num_samples=2000))
# How often CLIP tells the reference from the reconstruction with the learned prompts.
val_evaluator = [dict(type='PromptSeparation')]
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(type='StageCheckpointHook', save_best='hq_lq_acc',
                                     rule='greater'))
