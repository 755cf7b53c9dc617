# Stage 2 on the embedded default data: high/low-quality prompts (clean references vs frozen
# stage-1 output) and class prompts, around the tiny CLIP trained on the twelve photographs
# (tools/train_tiny_clip.py; `make demo` trains it first).
_base_ = ['_base_/datasets/demo.py', '_base_/schedules/prompt_epochs.py',
          '_base_/default_runtime.py', '_base_/models/clip_tiny.py']

work_dir = 'work_dirs/demo/prompt'
model = dict(
    type='PromptModel',
    clip={{_base_.clip}},
    coarse_checkpoint='work_dirs/demo/coarse/coarse_best.pth',
    hq_lq=dict(type='HQLQPromptLearner'),
    class_prompt=dict(type='ClassPromptLearner', num_ctx=4),
    # The zero-shot baseline's TFP: the mean spike rate of the window, which is what the
    # references are (nominal_gain=1).
    zeroshot_encoder=dict(type='TFP', gain=1.0))
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
