#!/usr/bin/env bash
# Copies the captured Claude Code payloads (tests/fixtures) into fuzz/corpus/<target>/ as seeds: JSON for the JSON
# reader, protobuf for the protobuf reader, both for reshaping. The corpora libFuzzer grows there are not committed.
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../tests/fixtures/claude-code-2.1.331
mkdir -p corpus/decode_json corpus/decode_protobuf corpus/reshape
for file in "$fixtures"/*/*.json "$fixtures"/*/*.pb; do
    name="seed-$(basename "$(dirname "$file")")-$(basename "$file")"
    case "$file" in
        *.json) cp "$file" "corpus/decode_json/$name" ;;
        *.pb) cp "$file" "corpus/decode_protobuf/$name" ;;
    esac
    cp "$file" "corpus/reshape/$name"
done
