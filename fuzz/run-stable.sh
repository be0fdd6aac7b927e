#!/usr/bin/env bash
# Fuzzes `predict_body` with the stable toolchain: libFuzzer, guided by the same
# sanitizer-coverage flags cargo-fuzz passes, without AddressSanitizer (nightly-only): panics,
# aborts, hangs and runaway memory are caught, memory errors inside unsafe code are not.
# Usage, from anywhere:
#
#   fuzz/run-stable.sh [SECONDS]      # default 60
#
# New inputs go to fuzz/target/corpus (not the committed seeds), crashes to fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
target="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# `--target` keeps RUSTFLAGS off the build scripts, which cannot link the coverage hooks.
cargo build --release --target "$target" --bin predict_body
mkdir -p target/corpus artifacts/predict_body
"target/$target/release/predict_body" target/corpus corpus/predict_body \
    -max_total_time="$seconds" -max_len=20000 -artifact_prefix=artifacts/predict_body/ \
    -print_final_stats=1
