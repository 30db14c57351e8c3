#!/bin/sh
# Builds the fuzz targets with libFuzzer's coverage instrumentation on a stable
# toolchain (the flags cargo-fuzz passes, without a sanitizer). Run one with
#   target/x86_64-unknown-linux-gnu/release/NAME (the host triple) corpus/NAME -max_total_time=600
set -e
cd "$(dirname "$0")"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
  -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
  -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares"
# An explicit --target keeps the flags off build scripts and proc macros.
cargo build --release --bins --target "$(rustc -vV | sed -n "s/host: //p")" "$@"
