# Frozen CLIP ViT-B/32 with OpenAI weights. open_clip caches them on a networked machine; offline,
# set `pretrained` to a local file (see README, "CLIP weights").
clip = dict(type='FrozenCLIP', arch='ViT-B-32', pretrained='openai')
