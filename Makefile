# tokenledger — `make test` installs what the tests need (Python venv with the ClickHouse engine, the Claude
# Code CLI, the OpenTelemetry Collector built from tests/otelcol/manifest.yaml, docker compose's file loader, Debian's
# chromium for the HTML report, Debian's prometheus for promtool and the server, amtool and alertmanager built with
# Go), builds what the relay image builds, then runs every test. `make bench` measures; figures go to BENCHMARKS.md.

PYTHON       ?= python3
VENV         := .venv
VENV_PY      := $(VENV)/bin/python
CLAUDE_BIN   := .cache/claude-code/2.1.331/package/claude
# Rotel (PyPI `rotel`, a Rust OTel collector with a ClickHouse exporter), compared with in `make bench`; its own
# venv, never the test venv.
ROTEL_VENV   := .cache/rotel-venv-0.0.1a15
# docker compose's own loader (compose-go), for tests/stack_files.rs: built from the Go module proxy, cached.
COMPOSE_CHECK := .cache/compose-check/v2.16.2/compose-check
# Alertmanager's amtool and server at the release docker-compose.yml pins (prom/alertmanager), built from the Go
# module proxy: Debian's alertmanager 0.25 cannot read prometheus/alertmanager.yml (webhook url_file is newer).
ALERTMANAGER_VERSION := v0.34.0
ALERTMANAGER_DIR := .cache/alertmanager/$(ALERTMANAGER_VERSION)
GO_ENV       := GOPATH=$(CURDIR)/.cache/go GOMODCACHE=$(CURDIR)/.cache/go/pkg/mod GOCACHE=$(CURDIR)/.cache/go/cache \
                GOFLAGS=-modcacherw GOTOOLCHAIN=local

.PHONY: test deps venv claude collector compose-check chromium promtool prometheus-tools rotel unit python-tests release \
        bench fuzz lint demo clean

test: deps python-tests release
	cargo build --benches --examples
	cargo test --lib --tests --no-fail-fast

deps: venv claude collector compose-check chromium promtool prometheus-tools

venv: $(VENV)/.installed

$(VENV)/.installed: tests/support/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/support/requirements.txt
	touch $@

claude: $(CLAUDE_BIN)

# tests/report.rs renders the HTML report in headless Chromium (Debian's package; run as root, as CI does).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# tests/ledger_figures.rs runs `promtool check metrics` on a real scrape of /metrics (Debian's `prometheus`
# package ships promtool).
promtool:
	@command -v promtool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; }

$(CLAUDE_BIN):
	tests/support/fetch_claude.sh >/dev/null

# The collector of the stack's tests (the components of otel-collector-config.yaml at the release
# docker-compose.yml pins), built with the OpenTelemetry Collector Builder from the Go module proxy into
# .cache/otelcol/<version>/. The script returns at once when the binary matches the manifest.
collector:
	tests/support/build_collector.sh >/dev/null

# The Prometheus server (Debian's package, 2.42, installed with promtool above) for tests/prometheus_rules.rs,
# tests/prometheus_claude_metrics.rs and tests/alerts_e2e.rs; amtool and alertmanager v0.34.0 built with Go into
# .cache/alertmanager/.
prometheus-tools: promtool $(ALERTMANAGER_DIR)/amtool $(ALERTMANAGER_DIR)/alertmanager
	@command -v prometheus >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; }

$(ALERTMANAGER_DIR)/amtool:
	$(GO_ENV) GOBIN=$(CURDIR)/$(ALERTMANAGER_DIR) go install github.com/prometheus/alertmanager/cmd/amtool@$(ALERTMANAGER_VERSION)

# `go install .../cmd/alertmanager` fails: the module on the proxy lacks the web UI's built assets (ui/app/dist,
# embedded with go:embed). Built from a copy of the module with a one-line page there; the tests use its API only.
$(ALERTMANAGER_DIR)/alertmanager:
	$(GO_ENV) go mod download github.com/prometheus/alertmanager@$(ALERTMANAGER_VERSION)
	rm -rf $(ALERTMANAGER_DIR)/src && mkdir -p $(ALERTMANAGER_DIR)
	cp -r .cache/go/pkg/mod/github.com/prometheus/alertmanager@$(ALERTMANAGER_VERSION) $(ALERTMANAGER_DIR)/src
	chmod -R u+w $(ALERTMANAGER_DIR)/src && mkdir -p $(ALERTMANAGER_DIR)/src/ui/app/dist
	echo '<!doctype html><title>Alertmanager</title><p>The web UI is not part of this build.' \
		>$(ALERTMANAGER_DIR)/src/ui/app/dist/index.html
	cd $(ALERTMANAGER_DIR)/src && $(GO_ENV) go build -o ../alertmanager ./cmd/alertmanager
	rm -rf $(ALERTMANAGER_DIR)/src

compose-check: $(COMPOSE_CHECK)

$(COMPOSE_CHECK): tests/compose_check/main.go tests/compose_check/go.mod tests/compose_check/go.sum
	cd tests/compose_check && $(GO_ENV) go build -o $(CURDIR)/$(COMPOSE_CHECK) .

rotel: $(ROTEL_VENV)/.installed

$(ROTEL_VENV)/.installed:
	$(PYTHON) -m venv $(ROTEL_VENV)
	$(ROTEL_VENV)/bin/pip install --quiet --disable-pip-version-check rotel==0.0.1a15
	touch $@

# The chdb HTTP front's own tests (it is test infrastructure, so it is tested too).
python-tests: venv
	$(VENV_PY) -m unittest discover -s tests/support -p 'test_*.py'

# The relay image's build command (deploy/Dockerfile runs exactly this; tests/stack_files.rs checks they are equal),
# so CI builds what the image builds.
release:
	cargo build --release --locked

unit:
	cargo test --lib

# `tokenledger demo` against the local stack (`docker compose up -d` first): realistic Claude Code telemetry for
# 40 workflows over 7 days to the collector's published OTLP/HTTP port, one workflow over its budget. DEMO_ARGS
# passes flags (`make demo DEMO_ARGS="--seed 2 --endpoint http://127.0.0.1:4318"`); `tokenledger demo --help`.
DEMO_ARGS ?=
demo:
	cargo build --release --locked
	cargo run --release --locked --quiet -- demo $(DEMO_ARGS)

bench: deps rotel
	cargo bench --bench pipeline
	cargo run --release --example bench_end_to_end
	cargo run --release --example bench_commits
	$(VENV_PY) benches/storage.py
	$(VENV_PY) benches/final_setting.py
	$(VENV_PY) benches/ledger_figures.py
	$(VENV_PY) benches/panels.py

# Fuzzing (fuzz/README.md): each cargo-fuzz target for FUZZ_SECONDS (default 60), seeded from tests/fixtures;
# prints executions and coverage. Not part of `test`: fuzz/ is its own workspace.
FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

clean:
	cargo clean
	rm -rf $(VENV) .cache
