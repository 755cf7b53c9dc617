# SpikeCLIP toolkit. `make demo` and `make test` do all their own set-up on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON3 ?= python3
# Dataset of the stage shortcuts: demo (embedded, offline), ucaltech or ucifar (`make data` first).
DATASET ?= demo
WORK_ROOT ?= work_dirs
CKPT ?= $(WORK_ROOT)/$(DATASET)/combined_model.pth
INPUTS ?=
OUT_DIR ?= $(WORK_ROOT)/$(DATASET)/infer
PYTEST_ARGS ?=
# Extra arguments of the train-* targets, e.g. TRAIN_ARGS=--resume or TRAIN_ARGS=--force.
TRAIN_ARGS ?=

STAMP := $(VENV)/.installed

.PHONY: help install test lint demo data train-coarse train-prompt train-refine train-all \
	infer-coarse infer-prompt infer-refine infer-pipeline combine-checkpoints evaluate check-clip \
	benchmark tensorboard clean

help:  ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-20s %s\n", $$1, $$2}'
	@echo "  Variables: DATASET=$(DATASET) (demo|ucaltech|ucifar) VENV=$(VENV) CKPT=... INPUTS=..."

$(STAMP): requirements/runtime.txt requirements/no_deps.txt requirements/tests.txt setup.py
	@test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	# torch first, pinned, so that nothing below pulls a different build.
	$(PY) -m pip install --disable-pip-version-check -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --disable-pip-version-check -q -r requirements/runtime.txt \
		-r requirements/tests.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -r requirements/no_deps.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)  ## Create $(VENV) and install the pinned dependencies and the package

test: $(STAMP)  ## Run all tests
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff
	$(VENV)/bin/ruff check spikeclip tools tests configs

demo: $(STAMP)  ## Train the tiny CLIP and the three stages on the embedded data, combine, test, infer (offline)
	$(PY) tools/demo.py --work-root $(WORK_ROOT)

data: $(STAMP)  ## Download and unpack U-CALTECH / U-CIFAR into data/ (needs network)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements/optional.txt || true
	$(PY) tools/fetch_data.py --out-dir data

train-coarse: $(STAMP)  ## Stage 1 on DATASET
	$(PY) tools/train.py configs/coarse_$(DATASET).py --work-dir $(WORK_ROOT)/$(DATASET)/coarse \
		$(TRAIN_ARGS)

train-prompt: $(STAMP)  ## Stage 2 on DATASET (needs train-coarse)
	$(PY) tools/train.py configs/prompt_$(DATASET).py --work-dir $(WORK_ROOT)/$(DATASET)/prompt \
		$(TRAIN_ARGS)

train-refine: $(STAMP)  ## Stage 3 on DATASET (needs train-prompt)
	$(PY) tools/train.py configs/refine_$(DATASET).py --work-dir $(WORK_ROOT)/$(DATASET)/refine \
		$(TRAIN_ARGS)

train-all: $(STAMP)  ## Stages 1-3 in sequence, then combine into CKPT
	$(PY) tools/train_all.py $(DATASET) --work-root $(WORK_ROOT) $(TRAIN_ARGS)

combine-checkpoints: $(STAMP)  ## Combine the three stage checkpoints into CKPT
	$(PY) tools/combine_checkpoints.py --coarse $(WORK_ROOT)/$(DATASET)/coarse/coarse_best.pth \
		--prompt $(WORK_ROOT)/$(DATASET)/prompt/prompt_best.pth \
		--refine $(WORK_ROOT)/$(DATASET)/refine/refine_best.pth --out $(CKPT)

infer-coarse: $(STAMP)  ## Stage-1 inference: INPUTS=... (.dat/.npz)
	$(PY) tools/infer.py $(WORK_ROOT)/$(DATASET)/coarse/coarse_best.pth $(INPUTS) --out-dir $(OUT_DIR)/coarse

infer-prompt: $(STAMP)  ## Stage-2 inference (coarse image + class): INPUTS=...
	$(PY) tools/infer.py $(WORK_ROOT)/$(DATASET)/prompt/prompt_best.pth $(INPUTS) --out-dir $(OUT_DIR)/prompt

infer-refine: $(STAMP)  ## Stage-3 inference (refined image): INPUTS=...
	$(PY) tools/infer.py $(WORK_ROOT)/$(DATASET)/refine/refine_best.pth $(INPUTS) --out-dir $(OUT_DIR)/refine

infer-pipeline: $(STAMP)  ## Combined model inference (image + class): INPUTS=...
	$(PY) tools/infer.py $(CKPT) $(INPUTS) --out-dir $(OUT_DIR)/pipeline --save-coarse

evaluate: $(STAMP)  ## Test the combined model on DATASET's test split, with visualisations
	$(PY) tools/test.py configs/pipeline_$(DATASET).py $(CKPT) \
		--work-dir $(WORK_ROOT)/$(DATASET)/test --show-dir $(WORK_ROOT)/$(DATASET)/test/vis

check-clip: $(STAMP)  ## Which CLIP weights a DATASET run loads, and its zero-shot top-1 (CKPT optional)
	$(PY) tools/check_clip.py configs/coarse_$(if $(filter ucifar,$(DATASET)),ucifar,ucaltech).py \
		$(if $(wildcard $(CKPT)),--checkpoint $(CKPT))

benchmark: $(STAMP)  ## Speed of each stage and the pipeline against TFP (CKPT=... or a config)
	$(PY) tools/benchmark.py $(CKPT)

tensorboard: $(STAMP)  ## Serve the TensorBoard logs of $(WORK_ROOT)
	$(VENV)/bin/tensorboard --logdir $(WORK_ROOT)

clean:  ## Remove work_dirs and caches (keeps $(VENV) and data/)
	rm -rf $(WORK_ROOT) .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
