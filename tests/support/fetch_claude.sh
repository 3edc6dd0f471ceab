#!/usr/bin/env bash
# fetch_claude.sh - download the pinned Claude Code CLI and print the path of its executable.
#
# The CLI is the npm package @anthropic-ai/claude-code-linux-x64, which holds one self-contained
# native binary at package/claude (~400 MB unpacked, ~185 MB download). It is fetched with
# `npm pack` (npm checks the registry's integrity hash) and unpacked into
#     $CLAUDE_CODE_CACHE_DIR/<version>/package/claude
# CLAUDE_CODE_CACHE_DIR defaults to <repo root>/.cache/claude-code (git-ignored);
# CLAUDE_CODE_VERSION defaults to 2.1.331, the version tests/fixtures/claude-code-2.1.331 was captured from.
#
# Idempotent: when the binary is already there the script only prints its path. Concurrent runs
# are serialised with flock, and the unpack goes through a temporary directory renamed into place,
# so a half-written binary is never seen. stdout carries exactly one line, the absolute path;
# everything else goes to stderr.
set -euo pipefail

VERSION="${CLAUDE_CODE_VERSION:-2.1.331}"
PACKAGE="@anthropic-ai/claude-code-linux-x64"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE_DIR="${CLAUDE_CODE_CACHE_DIR:-$REPO_ROOT/.cache/claude-code}"

mkdir -p "$CACHE_DIR"
CACHE_DIR="$(cd "$CACHE_DIR" && pwd)"
DEST="$CACHE_DIR/$VERSION"
BIN="$DEST/package/claude"

if [[ -x "$BIN" ]]; then
    echo "$BIN"
    exit 0
fi

TMP=""
trap '[[ -n "$TMP" ]] && rm -rf "$TMP"' EXIT

fetch() {
    if [[ -x "$BIN" ]]; then # another process fetched it while we waited for the lock
        return 0
    fi
    TMP="$(mktemp -d "$CACHE_DIR/.fetch-$VERSION.XXXXXX")"
    echo "fetch_claude.sh: npm pack $PACKAGE@$VERSION into $CACHE_DIR" >&2
    (cd "$TMP" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
    local tgz
    tgz="$(ls "$TMP"/*.tgz)"
    mkdir "$TMP/unpacked"
    tar -xzf "$tgz" -C "$TMP/unpacked"
    if [[ ! -f "$TMP/unpacked/package/claude" ]]; then
        echo "fetch_claude.sh: package/claude not found in $tgz" >&2
        return 1
    fi
    chmod +x "$TMP/unpacked/package/claude"
    rm -rf "$DEST"
    mv "$TMP/unpacked" "$DEST"
}

if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE_DIR/.lock"
    flock 9
fi
fetch
echo "$BIN"
