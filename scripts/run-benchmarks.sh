#!/usr/bin/env bash
# Runs every benchmark under bench/; each prints its figures and its ratio against a reference.
set -euo pipefail
found=0
for dir in bench/*/; do
  [ -f "$dir/run.sh" ] || continue
  found=1
  echo "== $dir"
  bash "$dir/run.sh"
done
[ $found -eq 1 ] || echo "no benchmarks yet: they arrive with the image store and the ContainerVM"
