# Frozen CLIP ViT-B/32 with OpenAI weights. open_clip caches them on a networked machine; offline,
# copy the cache, or set `pretrained` to a local file with arch='ViT-B-32-quickgelu' (README).
clip = dict(type='FrozenCLIP', arch='ViT-B-32', pretrained='openai')
