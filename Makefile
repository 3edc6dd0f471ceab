# tokenledger — `make test` installs what the tests need (Python venv with the ClickHouse engine, the Claude
# Code CLI, the OpenTelemetry Collector built from tests/otelcol/manifest.yaml), then runs every test.
# `make bench` measures; figures go to BENCHMARKS.md.

PYTHON       ?= python3
VENV         := .venv
VENV_PY      := $(VENV)/bin/python
CLAUDE_BIN   := .cache/claude-code/2.1.331/package/claude
# Rotel (PyPI `rotel`, a Rust OTel collector with a ClickHouse exporter), compared with in `make bench`; its own
# venv, never the test venv.
ROTEL_VENV   := .cache/rotel-venv-0.0.1a15

.PHONY: test deps venv claude collector rotel unit python-tests bench lint clean

test: deps python-tests
	cargo build --benches --examples
	cargo test --lib --tests --no-fail-fast

deps: venv claude collector

venv: $(VENV)/.installed

$(VENV)/.installed: tests/support/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/support/requirements.txt
	touch $@

claude: $(CLAUDE_BIN)

$(CLAUDE_BIN):
	tests/support/fetch_claude.sh >/dev/null

# The collector of the stack's tests (the components of otel-collector-config.yaml at the release
# docker-compose.yml pins), built with the OpenTelemetry Collector Builder from the Go module proxy into
# .cache/otelcol/<version>/. The script returns at once when the binary matches the manifest.
collector:
	tests/support/build_collector.sh >/dev/null

rotel: $(ROTEL_VENV)/.installed

$(ROTEL_VENV)/.installed:
	$(PYTHON) -m venv $(ROTEL_VENV)
	$(ROTEL_VENV)/bin/pip install --quiet --disable-pip-version-check rotel==0.0.1a15
	touch $@

# The chdb HTTP front's own tests (it is test infrastructure, so it is tested too).
python-tests: venv
	$(VENV_PY) -m unittest discover -s tests/support -p 'test_*.py'

unit:
	cargo test --lib

bench: deps rotel
	cargo bench --bench pipeline
	cargo run --release --example bench_end_to_end
	cargo run --release --example bench_commits
	$(VENV_PY) benches/storage.py
	$(VENV_PY) benches/final_setting.py

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

clean:
	cargo clean
	rm -rf $(VENV) .cache
