"""Multi-stage workflows, each behind a tool in ``tools/``: :mod:`.train_all` trains stages 1-3 and
combines them (``tools/train_all.py``); :mod:`.demo` runs the whole pipeline on the embedded data
(``tools/demo.py``, ``make demo``)."""
