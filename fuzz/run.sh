#!/usr/bin/env bash
# Runs each fuzz target for FUZZ_SECONDS (default 60), one at a time, at low priority, and prints libFuzzer's
# figures: executions (#N, exec/s) and coverage (cov: edges, ft: features). Usage: fuzz/run.sh [TARGET...]
#
# cargo fuzz needs nightly flags (-Z sanitizer, coverage instrumentation): with a nightly toolchain it runs
# `cargo +nightly fuzz`, else the stable toolchain with RUSTC_BOOTSTRAP=1, which lets stable take them.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-60}
# Safe Rust: what fuzzing finds is panics, and AddressSanitizer would halve the speed. FUZZ_SANITIZER=address for it.
sanitizer=${FUZZ_SANITIZER:-none}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode_json decode_protobuf reshape)

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=+nightly
else
    toolchain=+stable
    export RUSTC_BOOTSTRAP=1
fi
./seed.sh
mkdir -p logs
for target in "${targets[@]}"; do
    echo "== $target: ${seconds}s, cargo $toolchain fuzz, sanitizer $sanitizer"
    nice -n 10 cargo "$toolchain" fuzz build --release --sanitizer "$sanitizer" "$target"
    status=0
    nice -n 10 cargo "$toolchain" fuzz run --release --sanitizer "$sanitizer" "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=1024 -max_len=262144 \
        >"logs/$target.log" 2>&1 || status=$?
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|panicked|^==[0-9]+==|SUMMARY' \
        "logs/$target.log" || true
    if [ "$status" -ne 0 ]; then
        echo "$target failed (exit $status): fuzz/logs/$target.log, the input in fuzz/artifacts/$target/" >&2
        exit "$status"
    fi
done
