#!/bin/sh
# Runs the stream reader's fuzz target (test/fuzz_stream.c) that make fuzz
# built, for SECONDS: under libFuzzer, keeping its corpus and any crashing
# input in BUILD_DIR; or, where clang has no libFuzzer, as its own driver
# of random inputs.  On a failure it prints the end of libFuzzer's log.
#   test/fuzz.sh libfuzzer|driver BUILD_DIR SECONDS
set -u
engine=$1
dir=$2
seconds=$3
target=$dir/test/fuzz_stream
if [ "$engine" = driver ]; then
    echo "fuzz: random inputs, without libFuzzer (Debian's libclang-rt-14-dev has it)"
    exec "$target" "$seconds"
fi
mkdir -p "$dir/corpus"
if "$target" -max_total_time="$seconds" -max_len=4096 -artifact_prefix="$dir/" \
        "$dir/corpus" >"$dir/fuzz.log" 2>&1; then
    grep -E "DONE|^Done" "$dir/fuzz.log"
else
    tail -40 "$dir/fuzz.log"
    exit 1
fi
