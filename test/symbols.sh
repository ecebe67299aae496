#!/bin/sh
# The shared library exports green_* names and nothing else.
set -u
lib=$1
extra=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^green_' | grep -v '^_')
if [ -n "$extra" ]; then
    echo "symbols.sh: $lib exports names outside green_*: $extra" >&2
    exit 1
fi
echo "symbols.sh: $lib exports only green_* names"
