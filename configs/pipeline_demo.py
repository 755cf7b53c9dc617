# Evaluate a combined model (tools/combine_checkpoints.py) on the demo test split:
# `python tools/test.py configs/pipeline_demo.py work_dirs/demo/combined_model.pth --show-dir vis`.
# The model is rebuilt from the config stored in the checkpoint.
_base_ = ['_base_/datasets/demo.py', '_base_/default_runtime.py']

work_dir = 'work_dirs/demo/test'
model = dict(type='SpikeCLIP', from_checkpoint=True)
test_evaluator = [
    dict(type='PSNR'), dict(type='SSIM'), dict(type='MAE'), dict(type='MSE'),
    dict(type='PSNR', pred_key='pred_coarse', prefix='coarse'),
    dict(type='SSIM', pred_key='pred_coarse', prefix='coarse'),
    dict(type='Accuracy', topk=(1, 5)),
]
