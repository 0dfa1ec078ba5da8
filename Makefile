# Digit Canvas: `make run` serves the shipped model, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 5000
export PORT
# The shared data files where this project keeps them; empty where they are missing, so that
# train.py falls back to the Keras MNIST download (set either variable to point elsewhere).
MNIST_PATH ?= $(wildcard ../shared/data/mnist.npz)
PENDIGITS_PATH ?= $(wildcard ../shared/data/pendigits_train.json)
UNIPEN_PATH ?= $(wildcard ../shared/data/unipen_train.json)
MNIST_WRITERS_PATH ?= $(wildcard ../shared/data/mnist_writers.npz)
export MNIST_PATH PENDIGITS_PATH UNIPEN_PATH MNIST_WRITERS_PATH

.PHONY: run test lint train cv line join-prior evaluate eval bench screenshot clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

run: $(STAMP)  ## serve at http://127.0.0.1:$(PORT) with gunicorn (WEB_CONCURRENCY workers, GUNICORN_THREADS threads)
	$(BIN)/gunicorn --config python:app.gunicorn_conf "app:create_app()"

test: $(STAMP)  ## the whole suite, browser test included
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

# Recipes (training/config.py). The CNN in two stages: the base learns MNIST (with traced MNIST and
# scribbles) and sees no pen writer; each model is then fine-tuned from it with every pen source
# (pendigits and UNIPEN-train), their styles, letters and small scans: every writer for the shipped
# model, all but one fold's writers and contributors for each cross-validation model (make cv). The
# trajectory model learns the pen paths from scratch. 2 CPU cores: fine-tune ~10 min, trajectory ~6 min.
BASE := models/base/digit_cnn.keras

$(BASE): | $(STAMP)
	$(BIN)/python train.py --recipe base --out models/base

train: $(STAMP) $(BASE)  ## the shipped models: CNN fine-tuned with every pen writer, and the pen-path model -> models/
	$(BIN)/python train.py --recipe fine-tune --fold 0 --out models
	$(BIN)/python train.py --recipe trajectory --fold 0 --out models

cv: $(STAMP) $(BASE)  ## the cross-validation models: one per fold of writers and contributors -> models/cv/foldK/
	for fold in 1 2 3 4 5; do \
	  $(BIN)/python train.py --recipe fine-tune --fold $$fold --out models/cv/fold$$fold && \
	  $(BIN)/python train.py --recipe trajectory --fold $$fold --out models/cv/fold$$fold || exit 1; done

line: $(STAMP)  ## the line reader for pictures of numbers (CTC), then its unsure thresholds -> models/line.*
	$(BIN)/python train.py --recipe line --out models
	$(BIN)/python train.py --recipe line-more --out models
	$(BIN)/python -m training.line_calibration --model models/line.tflite

join-prior: $(STAMP)  ## refit the segmenter's join prior on the training writers -> models/join_prior.json
	$(BIN)/python -m training.join_prior

evaluate: $(STAMP)  ## reprint the shipped model's MNIST test accuracy
	$(BIN)/python train.py --evaluate models/digit_cnn.keras

eval: $(STAMP)  ## accuracy on real pen digits by unseen writers, in several placements; whole numbers
	$(BIN)/python -m bench.drawn_eval
	$(BIN)/python -m bench.number_eval
	$(BIN)/python -m bench.line_eval

bench: $(STAMP)  ## latency, throughput, cold start and memory vs a seed-style server
	$(BIN)/python -m bench.latency

screenshot: $(STAMP)  ## refresh docs/screenshot.png and docs/screenshot-phone.png from the browser tests
	DIGIT_CANVAS_SCREENSHOT=docs/screenshot.png $(BIN)/python -m pytest tests/test_browser.py -q -k seven_clear
	DIGIT_CANVAS_PHONE_SCREENSHOT=docs/screenshot-phone.png $(BIN)/python -m pytest tests/test_page.py -q -k screenshot

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
