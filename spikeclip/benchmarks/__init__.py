"""Measurements of models, each behind a tool in ``tools/``.

* :mod:`.speed`: latency, throughput, memory and power per stage against TFP
  (``tools/benchmark.py``);
* :mod:`.video`: frames per second and memory of whole recordings to video
  (``tools/benchmark_video.py``);
* :mod:`.quality`: reconstruction quality on realistic held-out test sets against TFP and TFI
  (``tools/benchmark_quality.py``);
* :mod:`.clip`: which CLIP a config loads and its zero-shot accuracy (``tools/check_clip.py``).
"""
