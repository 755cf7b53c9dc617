# Frozen CLIP ViT-B/32 with OpenAI weights (QuickGELU, which the 'openai' tag sets). open_clip
# caches them on a networked machine; offline, `python tools/check_clip.py` names the file to
# fetch and where to put it. A local file works too (`pretrained=FILE`): OpenAI's TorchScript
# archive (~/.cache/clip/ViT-B-32.pt) says QuickGELU itself, a state-dict file of OpenAI's
# weights needs quick_gelu=True (docs/clip.md).
clip = dict(type='FrozenCLIP', arch='ViT-B-32', pretrained='openai')
