# The project's tiny CLIP architecture with RANDOM weights, saved locally (tools/make_tiny_clip.py;
# `make demo` creates it). It shows the mechanics offline; real runs use clip_vit_b32.py.
clip = dict(type='FrozenCLIP', arch='spikeclip-tiny', pretrained='work_dirs/demo/tiny_clip.pth')
