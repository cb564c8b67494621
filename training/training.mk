# Training package targets; included by the top-level Makefile, usable alone:
#   make -f training/training.mk train DATA=../shared/data/training.csv
# Recipes run from the repository root.

PYTHON ?= python3.11
DATA ?=
TRAINING_ARGS ?=

TRAINING_VENV := training/.venv
TRAINING_PY := $(TRAINING_VENV)/bin/python
# Keyed on the content of requirements.txt (not its mtime, which git checkouts reset).
TRAINING_STAMP := $(TRAINING_VENV)/.stamp-$(firstword $(shell sha256sum training/requirements.txt))

.PHONY: training-venv train fixtures test-training

training-venv: $(TRAINING_STAMP)

$(TRAINING_STAMP): training/requirements.txt
	rm -rf $(TRAINING_VENV)
	$(PYTHON) -m venv $(TRAINING_VENV)
	$(TRAINING_PY) -m pip install --quiet --upgrade pip
	$(TRAINING_PY) -m pip install --quiet -r training/requirements.txt
	touch $@

## train: the model (training venv; DATA=path.csv, empty: a synthetic sample, conf/training.yaml) into pmml/
train: training-venv
	$(TRAINING_PY) -m training $(if $(DATA),--data $(DATA)) --out pmml $(TRAINING_ARGS)

## fixtures: the small test models in tests/fixtures/
fixtures: training-venv
	$(TRAINING_PY) -m training --profile fixture --out tests/fixtures --no-report

## test-training: the training package's tests in its own venv
test-training: training-venv
	$(TRAINING_PY) -m pytest training/tests -q
