# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench demo-model clean

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
