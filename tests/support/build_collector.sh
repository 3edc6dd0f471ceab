#!/usr/bin/env bash
# build_collector.sh - build the OpenTelemetry Collector of tests/otelcol/manifest.yaml and print
# the path of its executable.
#
# The collector is built with the OpenTelemetry Collector Builder (ocb), installed with
# `go install go.opentelemetry.io/collector/cmd/builder@v$VERSION`; every module comes from the Go
# module proxy. Everything goes under the repo's .cache (git-ignored):
#     .cache/go/                          GOPATH, GOMODCACHE, GOCACHE (GOFLAGS=-modcacherw: removable)
#     .cache/otelcol/builder-v$VERSION/   the builder
#     .cache/otelcol/$VERSION/$HASH/      generated sources (src/) and the binary otelcol-tokenledger, where
#                                         $HASH is the first 16 hex digits of the manifest's sha256: clones with
#                                         different manifests sharing one .cache keep one binary each
# OTELCOL_CACHE_DIR overrides .cache/otelcol; OTELCOL_VERSION the version (default 0.160.0, the one
# docker-compose.yml pins; the manifest must name the same).
#
# Idempotent: when the binary exists and was built from the current manifest (its sha256 is kept
# beside the binary) the script only prints the path. Concurrent runs are serialised with flock;
# the binary is moved into place only when the build succeeded. stdout carries exactly one line,
# the absolute path; everything else goes to stderr. A cold build takes minutes on 2 cores.
set -euo pipefail

VERSION="${OTELCOL_VERSION:-0.160.0}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MANIFEST="$REPO_ROOT/tests/otelcol/manifest.yaml"
CACHE_DIR="${OTELCOL_CACHE_DIR:-$REPO_ROOT/.cache/otelcol}"

mkdir -p "$CACHE_DIR"
CACHE_DIR="$(cd "$CACHE_DIR" && pwd)"
SUM="$(sha256sum "$MANIFEST" | cut -d' ' -f1)"
DEST="$CACHE_DIR/$VERSION/${SUM:0:16}"
BIN="$DEST/otelcol-tokenledger"
STAMP="$DEST/manifest.sha256"

up_to_date() {
    [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$SUM" ]]
}

if up_to_date; then
    echo "$BIN"
    exit 0
fi

build() {
    if up_to_date; then # another process built it while we waited for the lock
        return 0
    fi
    if ! grep -q "^  version: $VERSION\$" "$MANIFEST"; then
        echo "build_collector.sh: $MANIFEST does not build version $VERSION" >&2
        return 1
    fi
    export GOPATH="$REPO_ROOT/.cache/go"
    export GOMODCACHE="$GOPATH/pkg/mod"
    export GOCACHE="$GOPATH/build"
    # -buildvcs=false: the generated module sits in a git-ignored folder of this repo; no VCS stamp wanted.
    export GOFLAGS="-modcacherw -buildvcs=false"
    export GOTOOLCHAIN=local
    if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
        export PATH="/usr/local/go/bin:$PATH" # Go's own install location, not always on PATH
    fi
    local builder_dir="$CACHE_DIR/builder-v$VERSION"
    if [[ ! -x "$builder_dir/builder" ]]; then
        echo "build_collector.sh: go install go.opentelemetry.io/collector/cmd/builder@v$VERSION" >&2
        GOBIN="$builder_dir" go install "go.opentelemetry.io/collector/cmd/builder@v$VERSION"
    fi
    mkdir -p "$DEST"
    rm -rf "$DEST/src" "$BIN" "$STAMP"
    echo "build_collector.sh: building the collector of $MANIFEST into $DEST" >&2
    # output_path in the manifest is relative: run from $DEST. Strict versioning: fail when
    # `go mod tidy` resolves any listed module to another version than the manifest names.
    (cd "$DEST" && "$builder_dir/builder" --config "$MANIFEST" --skip-strict-versioning=false \
        --ldflags="-s -w" >&2)
    mv "$DEST/src/otelcol-tokenledger" "$BIN.tmp"
    mv "$BIN.tmp" "$BIN"
    echo "$SUM" >"$STAMP"
}

if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE_DIR/.lock"
    flock 9
fi
build
echo "$BIN"
