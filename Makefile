# stemmatic task runner. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Optimised, incremental build for development; `build-release` makes the
# fat-LTO wheel that is published.
DEV_PROFILE ?= fast
EXTRAS ?= all,dev,docs
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help venv install build build-release lint fmt test test-rust test-python bench bench-rust demo docs clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

venv: $(BIN)/python ## Create the virtual environment (.venv)

install: venv ## Create .venv, install stemmatic (editable) with every extra, and build the extension
	MATURIN_PEP517_ARGS="--profile $(DEV_PROFILE)" $(BIN)/pip install -e ".[$(EXTRAS)]"
	touch $(VENV)/.installed

# `make test` on a fresh clone installs first; after that, `make build` is the
# step that refreshes the extension when rust/ changes.
$(VENV)/.installed:
	$(MAKE) install

build: venv ## Rebuild the Rust extension into the package (after editing rust/)
	rm -rf target/wheels-dev
	$(BIN)/maturin build --profile $(DEV_PROFILE) --out target/wheels-dev
	$(BIN)/python rust/stemmatic-py/install_dev_ext.py target/wheels-dev python/stemmatic

build-release: venv ## Build the release wheel (fat LTO) into target/wheels/
	$(BIN)/maturin build --release --out target/wheels

lint: ## cargo fmt --check, clippy -D warnings, ruff, mypy of the package, mypy.stubtest of the extension
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --profile $(DEV_PROFILE) -- -D warnings
	$(BIN)/ruff check python tests benches
	$(BIN)/ruff format --check python tests benches
	$(BIN)/python -m mypy python/stemmatic
	$(BIN)/python -m mypy.stubtest stemmatic._core

fmt: ## Format Rust and Python sources
	cargo fmt --all
	$(BIN)/ruff format python tests benches
	$(BIN)/ruff check --fix python tests benches

test-rust: ## Rust unit and property tests
	cargo test -p stemmatic-core

test-python: $(VENV)/.installed ## pytest (doctests of the package included)
	$(BIN)/python -m pytest

test: test-rust test-python ## All tests: cargo test, then pytest

bench: bench-minhash bench-dedup bench-contamination bench-diversity bench-lineage bench-resofilter bench-engines ## Every end-to-end benchmark but the long bench-dedup-scale (each writes benches/results/<area>.md)

bench-minhash: ## MinHash signatures vs rensa and datasketch (50k generated documents)
	$(BIN)/python benches/bench_minhash.py --docs 50000

bench-dedup-scale: ## Dedup of a generated 1-billion-token corpus: time, rows/s, MB/s, peak RSS per stage (long)
	$(BIN)/python benches/bench_dedup_scale.py --tokens 1e9

bench-dedup: ## Dedup quality (F1 vs exact all-pairs truth) and speed vs rensa and datasketch
	$(BIN)/python benches/bench_dedup.py --docs 20000 --real 8000

bench-resofilter: ## ResoFilter: corrupted-sample AUROC, selected-half fine-tuning, fast vs reference-loop speed (CPU)
	$(BIN)/python benches/bench_resofilter.py

bench-diversity: ## SemDeDup and k-center vs plain numpy on 1e5 and 1e6 generated vectors (d=384)
	$(BIN)/python benches/bench_diversity.py --sizes 100000 1000000 --numpy-max 100000

bench-engines: ## Same dedup on local, Ray Data and PySpark (5k generated documents): overhead ratios
	$(BIN)/python benches/bench_engines.py --docs 5000 --max-words 1000

bench-contamination: ## Contamination scan vs plain-Python n-gram matchers, recall on planted items (this machine's text)
	$(BIN)/python benches/bench_contamination.py --mb 64 --plants 200 --ngrams 1000000

bench-lineage: ## Lineage graph build, impact, ancestry, contamination propagation at 1e5 and 1e6 nodes vs networkx
	$(BIN)/python benches/bench_lineage.py --sizes 100000 1000000

bench-rust: ## Criterion micro-benchmarks of the Rust kernels
	cargo bench -p stemmatic-core

demo: install ## Build everything, generate sample data, deduplicate it (the main job)
	$(BIN)/stemmatic sample-data demo-data --docs 5000 --shards 4
	$(BIN)/stemmatic dedup demo-data -o demo-out --exact --emit-pairs --overwrite
	@echo "outputs in demo-out/: kept/ removed/ clusters.parquet pairs.parquet report.json"

docs: $(VENV)/.installed ## Build the documentation site into site/ (offline; warnings are errors)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean: ## Remove build outputs and generated data
	rm -rf target demo-data demo-out .pytest_cache site
