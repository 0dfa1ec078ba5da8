# Digit Canvas: `make run` serves the shipped model, `make test` runs the whole suite, `make help` lists the rest.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVING := $(VENV)/.serving-installed
EVERYTHING := $(VENV)/.dev-installed
PORT ?= 5000
export PORT
# What our commands measure goes here (ignored by git); `make figures` updates the published figures.
OUT ?= out
# The shared data files where this project keeps them; empty where they are missing, so that
# train.py falls back to the Keras MNIST download (set either variable to point elsewhere).
MNIST_PATH ?= $(wildcard ../shared/data/mnist.npz)
PENDIGITS_PATH ?= $(wildcard ../shared/data/pendigits_train.json)
UNIPEN_PATH ?= $(wildcard ../shared/data/unipen_train.json)
MNIST_WRITERS_PATH ?= $(wildcard ../shared/data/mnist_writers.npz)
export MNIST_PATH PENDIGITS_PATH UNIPEN_PATH MNIST_WRITERS_PATH

.PHONY: help run test dev lint train lookalikes cv line online pretrained join-prior evaluate eval bench bench-page scale figures lock screenshot clean

help:  ## this list (times are for a 2-core machine)
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-z-]+:.*## / {printf "  make %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The locks pin every package with its hashes: requirements.txt what the server imports (about
# 510 MB installed), requirements/dev.txt everything (training, tests, lint; about 2 GB), and
# requirements/peers.txt the peer make eval measures (installed without its dependencies).
$(SERVING): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.txt
	touch $@

$(EVERYTHING): requirements/dev.txt requirements/peers.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/peers.txt
	touch $@ $(SERVING)

run: $(SERVING)  ## serve the shipped models at http://127.0.0.1:5000, PORT=8080 to change (first time: installs, ~1 min)
	$(BIN)/gunicorn --config app/gunicorn_conf.py "app:create_app()"

test: $(EVERYTHING)  ## ruff and the whole suite, browser tests included (first time: installs, ~3 min; then ~9 min)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

dev: $(EVERYTHING)  ## install everything (training, tests, lint) into .venv without running anything (~3 min the first time)

lint: $(EVERYTHING)  ## ruff only (seconds)
	$(BIN)/ruff check .

# Recipes (training/config.py). The CNN in two stages: the base learns MNIST (with traced MNIST and
# scribbles) and sees no pen writer; each model is then fine-tuned from it with every pen source
# (pendigits and UNIPEN-train), their styles, letters and small scans: every writer for the shipped
# model, all but one fold's writers and contributors for each cross-validation model (make cv). The
# trajectory model learns the pen paths from scratch. These targets replace the shipped models.
BASE := models/base/digit_cnn.keras

$(BASE): | $(EVERYTHING)
	$(BIN)/python train.py --recipe base --out models/base --overwrite

train: $(EVERYTHING) $(BASE)  ## retrain the shipped CNN and pen-path model into models/ (~20 min)
	$(BIN)/python train.py --recipe fine-tune --fold 0 --out models --overwrite
	$(BIN)/python train.py --recipe trajectory --fold 0 --out models --overwrite
	$(BIN)/python -m training.lookalikes

lookalikes: $(EVERYTHING)  ## rebuild the "Why?" panel's lookalike bank for the shipped CNN -> models/lookalikes.npz (~10 s)
	$(BIN)/python -m training.lookalikes

cv: $(EVERYTHING) $(BASE)  ## retrain the five cross-validation pairs into models/cv/ (~2 h)
	for fold in 1 2 3 4 5; do \
	  $(BIN)/python train.py --recipe fine-tune --fold $$fold --out models/cv/fold$$fold --overwrite && \
	  $(BIN)/python train.py --recipe trajectory --fold $$fold --out models/cv/fold$$fold --overwrite || exit 1; done

line: $(EVERYTHING)  ## retrain the line reader for pictures of numbers into models/ (~40 min)
	$(BIN)/python train.py --recipe line --out models --overwrite
	$(BIN)/python train.py --recipe line-more --out models --overwrite
	$(BIN)/python train.py --recipe line-fine --out models --overwrite
	$(BIN)/python -m training.line_calibration --model models/line.tflite

online: $(EVERYTHING)  ## train the online sequence reader of drawn numbers into models/ (~25 min)
	$(BIN)/python train.py --recipe online --out models --overwrite
	$(BIN)/python train.py --recipe online-more --out models --overwrite

pretrained: $(EVERYTHING)  ## cut the pretrained recognizer (PP-OCRv6 small, from the rapidocr wheel) to digits, fine-tune it on handwritten numbers -> models/digits_rec.onnx (~1 h)
	$(BIN)/python -m training.pretrained --out models
	$(BIN)/python -m training.digits_finetune --model models/digits_rec.onnx
	$(BIN)/python -m training.line_calibration --model models/digits_rec.onnx

join-prior: $(EVERYTHING)  ## refit the segmenter's join prior into models/join_prior.json (both pen sources, fold 5's training writers; ~20 s)
	$(BIN)/python -m training.join_prior

evaluate: $(EVERYTHING)  ## the shipped CNN's MNIST test accuracy (~20 s)
	$(BIN)/python train.py --evaluate models/digit_cnn.keras

EVAL_OUT ?= $(OUT)/eval
# Pictures of what the evaluations found (make figures: docs/).
SHEETS_OUT ?= $(EVAL_OUT)
eval: $(EVERYTHING)  ## every accuracy table, on writers the models never saw -> out/eval/ (~1 h)
	$(BIN)/python -m bench.drawn_eval --out $(EVAL_OUT)
	$(BIN)/python -m bench.number_eval --every-fold 1000 --out $(EVAL_OUT)
	$(BIN)/python -m bench.number_placements --out $(EVAL_OUT)
	$(BIN)/python -m bench.line_eval --out $(EVAL_OUT) --disagreements $(SHEETS_OUT)/peer-disagreements.png
	$(BIN)/python -m bench.explain_eval --out $(EVAL_OUT)
	$(BIN)/python -m bench.digit_photo_eval --out $(EVAL_OUT)
	$(BIN)/python -m bench.label_review --out $(EVAL_OUT)

BENCH_OUT ?= $(OUT)/bench/latency.json
bench: $(EVERYTHING)  ## latency, throughput, cold start and memory, against a plain Keras server -> out/bench/ (~3 min)
	$(BIN)/python -m bench.latency --out $(BENCH_OUT)

PAGE_OUT ?= $(OUT)/bench/page_tasks.json
bench-page: $(EVERYTHING)  ## the page at 4x slower CPU (a mid-range phone): long tasks and input delay while drawing (~1 min)
	$(BIN)/python -m bench.page_tasks --out $(PAGE_OUT)

SCALE_OUT ?= $(OUT)/scale/scale.json
scale: $(EVERYTHING)  ## 1, 2 and 4 app hosts behind nginx, then the failure drills (root, nginx, PostgreSQL; ~3 min)
	$(BIN)/python -m bench.scale --out $(SCALE_OUT)

figures:  ## make eval and make bench, writing the published figures (models/*_eval.json, bench/latency.json)
	$(MAKE) eval EVAL_OUT=models SHEETS_OUT=docs
	$(MAKE) bench BENCH_OUT=bench/latency.json

lock: $(EVERYTHING)  ## re-pin requirements.txt and requirements/dev.txt from requirements/*.in (~2 min)
	cd requirements && ../$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
	  --no-emit-index-url --no-emit-find-links --output-file dev.txt dev.in
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	  --no-emit-find-links --constraint requirements/dev.txt --output-file requirements.txt requirements/serve.in

screenshot: $(EVERYTHING)  ## refresh docs/screenshot.png, screenshot-phone.png, why.png and docs/screens/ (~1 min)
	DIGIT_CANVAS_SCREENSHOT=docs/screenshot.png $(BIN)/python -m pytest tests/test_browser.py -q -k seven_clear
	DIGIT_CANVAS_WHY_SCREENSHOT=docs/why.png $(BIN)/python -m pytest tests/test_why_page.py -q -k wrong_answer
	mkdir -p docs/screens && DIGIT_CANVAS_SCREENS=docs/screens $(BIN)/python -m pytest tests/test_page_edges.py -q -k 'every_screen or number_mode_shows'
	DIGIT_CANVAS_PHONE_SCREENSHOT=docs/screenshot-phone.png $(BIN)/python -m pytest tests/test_page.py -q -k screenshot

clean:  ## remove .venv, out/ and the caches (the shipped models stay)
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
