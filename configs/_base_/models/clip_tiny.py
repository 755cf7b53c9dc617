# The project's tiny CLIP ('spikeclip-tiny', 4.6 M parameters) trained on the twelve embedded
# photographs by tools/train_tiny_clip.py (`make demo` trains it first, about a minute). It only
# knows those photographs; real runs use clip_vit_b32.py.
clip = dict(type='FrozenCLIP', arch='spikeclip-tiny',
            pretrained='work_dirs/demo/tiny_clip/open_clip_pytorch_model.bin')
