# stemmatic task runner. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Optimised, incremental build for development (`install`, `build`, `test-rust`,
# `lint` all use it, so none rebuilds what another built); `wheel` makes the
# fat-LTO wheel that is published.
DEV_PROFILE ?= fast
EXTRAS ?= all,dev,docs
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(BIN)):$(PATH)

# The release wheel: manylinux_2_28 through zig's cross-linker (glibc 2.28 symbols
# whatever this machine's glibc), abi3 (pyo3's abi3-py310), stripped.
MANYLINUX ?= manylinux_2_28
ZIGLANG ?= ziglang>=0.13,<0.16
DEMO_VENV ?= .venv-demo
BENCH_SMOKE_DIR ?= target/bench-smoke
WHEEL_SMOKE_DIR ?= target/wheel-smoke

.PHONY: help venv install build build-release wheel wheel-smoke lint fmt test test-rust test-python test-portable \
	bench bench-smoke bench-minhash bench-dedup-scale bench-dedup bench-clustering bench-resofilter bench-diversity \
	bench-engines bench-contamination bench-lineage bench-io bench-multilingual bench-incremental bench-short-docs bench-e2e bench-write-lanes bench-rust demo docs clean

help: ## Show this help
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}'

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

# maturin comes with the dev extra; this installs it where EXTRAS leaves dev out.
$(BIN)/maturin: | $(BIN)/python
	$(BIN)/pip install --quiet "maturin>=1.9,<2"

build: $(VENV)/.installed $(BIN)/maturin ## Rebuild the Rust extension into the package (after editing rust/)
	rm -rf target/wheels-dev
	$(BIN)/maturin build --profile $(DEV_PROFILE) --out target/wheels-dev
	$(BIN)/python rust/stemmatic-py/install_dev_ext.py target/wheels-dev python/stemmatic

wheel: $(BIN)/maturin ## The release wheel (fat LTO, manylinux_2_28 x86_64, abi3, stripped) and the sdist into target/wheels/
	$(BIN)/pip install --quiet "$(ZIGLANG)"
	rm -rf target/wheels
	$(BIN)/maturin build --release --strip --zig --compatibility $(MANYLINUX) --out target/wheels
	$(BIN)/maturin sdist --out target/wheels
	@ls -l target/wheels

build-release: wheel ## Same as wheel

# A clean venv with no extras, outside the source tree: import, the CLI, the
# dedup of sample data (rows conserved), the packaged DPI data, and the error a
# missing extra gives (the release workflow runs the same script on every wheel).
wheel-smoke: wheel ## Install the wheel into a clean venv (no extras) and smoke-test it
	PYTHON=$(PYTHON) bash .ci/wheel-smoke.sh target/wheels $(WHEEL_SMOKE_DIR)

lint: $(VENV)/.installed ## cargo fmt --check, clippy -D warnings, ruff, mypy of the package, mypy.stubtest of the extension
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --profile $(DEV_PROFILE) -- -D warnings
	$(BIN)/ruff check python tests benches
	$(BIN)/ruff format --check python tests benches
	$(BIN)/python -m mypy python/stemmatic
	$(BIN)/python -m mypy.stubtest stemmatic._core

fmt: $(VENV)/.installed ## Format Rust and Python sources
	cargo fmt --all
	$(BIN)/ruff format python tests benches
	$(BIN)/ruff check --fix python tests benches

test-rust: ## Rust unit and property tests (the profile make install built)
	cargo test -p stemmatic-core --profile $(DEV_PROFILE)

test-python: $(VENV)/.installed ## pytest (doctests of the package included)
	$(BIN)/python -m pytest

# The tests whose outputs go through the SIMD kernels, run again on the portable
# kernel (what a CPU without AVX2 runs; every kernel must give the same outputs).
# About 40 s on 2 busy cores; test_the_kernel_is_named checks the override took.
KERNEL_TESTS := tests/test_minhash.py tests/test_tokenize.py tests/test_tokenizer_scripts.py \
	tests/test_contamination.py tests/test_kernel.py::test_the_kernel_is_named

test-portable: $(VENV)/.installed ## The kernel-sensitive pytest files again with STEMMATIC_KERNEL=portable
	STEMMATIC_KERNEL=portable $(BIN)/python -m pytest $(KERNEL_TESTS)

test: test-rust test-python test-portable ## All tests: cargo test, pytest, then the kernel-sensitive ones on the portable kernel

bench: bench-minhash bench-dedup bench-clustering bench-contamination bench-diversity bench-lineage bench-resofilter bench-engines bench-io bench-multilingual bench-incremental bench-short-docs bench-e2e ## Every end-to-end benchmark but the long bench-dedup-scale (each writes benches/results/<area>.md)

bench-minhash bench-dedup-scale bench-dedup bench-clustering bench-resofilter bench-diversity bench-engines \
	bench-contamination bench-lineage bench-io bench-multilingual bench-incremental bench-short-docs bench-e2e bench-write-lanes bench-smoke: $(VENV)/.installed

# Every benchmark script at tiny sizes, so none can rot; results and generated
# data go to $(BENCH_SMOKE_DIR), never over benches/results/.
bench-smoke: export STEMMATIC_BENCH_RESULTS = $(abspath $(BENCH_SMOKE_DIR))/results
bench-smoke: export STEMMATIC_BENCH_DATA = $(abspath $(BENCH_SMOKE_DIR))/data
bench-smoke: ## Every benchmark at tiny sizes (a few minutes; results in target/bench-smoke/), Rust benches once each
	rm -rf $(BENCH_SMOKE_DIR)
	$(BIN)/python benches/bench_minhash.py --docs 300 --datasketch-docs 50 --short-docs 300
	$(BIN)/python benches/bench_dedup.py --docs 300 --real 100 --short-docs 300 --repeat 1
	$(BIN)/python benches/bench_clustering.py --code 100 --real 100 --short-docs 300 --repeat 1
	$(BIN)/python benches/bench_dedup_scale.py --tokens 2e5 --docs-per-shard 200 --memory-limit 256MB
	$(BIN)/python benches/bench_write_lanes.py --tokens 2e5 --repeat 1
	$(BIN)/python benches/bench_contamination.py --mb 1 --plants 5 --ngrams 5000
	$(BIN)/python benches/bench_diversity.py --sizes 2000 --numpy-max 2000 --budget 50
	$(BIN)/python benches/bench_lineage.py --sizes 2000 --general-max 2000 --peer-max 2000
	$(BIN)/python benches/bench_resofilter.py --seeds 1 --train-samples 32 --pretrain-steps 2 \
		--speed-samples 8 --batch-size 8 --repeat 1
	$(BIN)/python benches/bench_engines.py --docs 200 --max-words 100 --items 20 --short-docs 300 --repeat 1
	$(BIN)/python benches/bench_io.py --rows 2e4 --repeat 1
	$(BIN)/python benches/bench_multilingual.py --rounds 1 --seeds 17 --english-mb 5
	$(BIN)/python benches/bench_incremental.py --old-tokens 2e5 --new-tokens 2e4 --docs-per-shard 200
	$(BIN)/python benches/bench_incremental.py --short-docs 300
	$(BIN)/python benches/bench_short_docs.py --docs 300 --repeat 1 --help-runs 3
	$(BIN)/python benches/bench_e2e.py --mb 2 --repeat 1 --short-docs 300
	$(BIN)/python benches/ab_core.py python/stemmatic/_core.abi3.so python/stemmatic/_core.abi3.so --mb 0.3 --runs 2
	for name in minhash dedup dedup-scale contamination diversity lineage resofilter engines io multilingual incremental short_docs e2e write-lanes; do \
		test -s $(BENCH_SMOKE_DIR)/results/$$name.md || { echo "bench-smoke: no $$name.md" >&2; exit 1; }; done
	cargo test -p stemmatic-core --benches --profile $(DEV_PROFILE)

bench-io: ## Output writers: stemmatic's JSONL writer vs polars' write_ndjson and pyarrow's Parquet (1e5, 1e6 rows)
	$(BIN)/python benches/bench_io.py --rows 1e5 1e6 --repeat 3

bench-multilingual: ## Dedup F1 per language with default settings (Django, Sphinx and Wagtail translation catalogues, planted edits)
	$(BIN)/python benches/bench_multilingual.py

bench-incremental: ## dedup --against an index of earlier releases vs a full re-dedup (1e8 + 1e7 generated tokens; 60k real short documents)
	$(BIN)/python benches/bench_incremental.py --old-tokens 1e8 --new-tokens 1e7 --docs-per-shard 10000
	$(BIN)/python benches/bench_incremental.py --short-docs 60000 --repeat 5

bench-e2e: ## End to end, file in -> outputs, each a new process: dedup and contamination scan vs the pyarrow floor (Parquet, JSONL; 250 MB), dedup on S3 (moto) vs local
	$(BIN)/python benches/bench_e2e.py --mb 250 --repeat 3

bench-short-docs: ## Real short documents (60k docstrings), whole process: stemmatic dedup vs rensa's pipeline, and stemmatic --help
	$(BIN)/python benches/bench_short_docs.py

bench-minhash: ## MinHash signatures vs rensa and datasketch (50k generated documents)
	$(BIN)/python benches/bench_minhash.py --docs 50000

bench-write-lanes: ## One large input file: its output shard written by lanes side by side vs one writer (1e8 tokens)
	$(BIN)/python benches/bench_write_lanes.py --tokens 1e8

bench-dedup-scale: ## Dedup of a generated 1-billion-token corpus: time, rows/s, MB/s, peak RSS per stage (long)
	$(BIN)/python benches/bench_dedup_scale.py --tokens 1e9

bench-dedup: ## Dedup quality (F1 vs exact all-pairs truth) and speed vs rensa and datasketch (generated, real text, real short documents)
	$(BIN)/python benches/bench_dedup.py --docs 20000 --real 8000 --short-docs 60000

bench-clustering: ## Components vs star clustering against exact all-pairs truth (real code, real text, real short documents): F1, chaining
	$(BIN)/python benches/bench_clustering.py --code 6000 --real 8000 --short-docs 60000

bench-resofilter: ## ResoFilter: corrupted-sample AUROC, selected-half fine-tuning, fast vs reference-loop speed (CPU)
	$(BIN)/python benches/bench_resofilter.py

bench-diversity: ## SemDeDup and k-center vs plain numpy on 1e5 and 1e6 generated vectors (d=384)
	$(BIN)/python benches/bench_diversity.py --sizes 100000 1000000 --numpy-max 100000

bench-engines: ## Same dedup on local, Ray Data and PySpark (5k generated documents, 60k real short documents): overhead ratios
	$(BIN)/python benches/bench_engines.py --docs 5000 --max-words 1000 --short-docs 60000

bench-contamination: ## Contamination scan vs plain-Python n-gram matchers, recall on planted items (this machine's text)
	$(BIN)/python benches/bench_contamination.py --mb 64 --plants 200 --ngrams 1000000

bench-lineage: ## Lineage graph build, impact, ancestry, contamination propagation at 1e5 and 1e6 nodes vs networkx
	$(BIN)/python benches/bench_lineage.py --sizes 100000 1000000

bench-rust: ## Criterion micro-benchmarks of the Rust kernels
	cargo bench -p stemmatic-core

# The demo installs what a user of the dedup gets (`pip install stemmatic`: no
# extras) into its own venv, so it needs neither torch, Ray nor Spark.
demo: ## Install stemmatic (no extras) into .venv-demo, generate sample data, deduplicate it (the main job)
	test -x $(DEMO_VENV)/bin/python || $(PYTHON) -m venv $(DEMO_VENV)
	MATURIN_PEP517_ARGS="--profile $(DEV_PROFILE)" $(DEMO_VENV)/bin/pip install --quiet .
	$(DEMO_VENV)/bin/stemmatic sample-data demo-data --docs 5000 --shards 4
	$(DEMO_VENV)/bin/stemmatic dedup demo-data -o demo-out --exact --emit-pairs --overwrite
	@echo "outputs in demo-out/: kept/ removed/ clusters.parquet pairs.parquet report.json"

docs: $(VENV)/.installed ## Build the documentation site into site/ (offline; warnings are errors)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean: ## Remove build outputs and generated data
	rm -rf target demo-data demo-out .pytest_cache site $(DEMO_VENV)
