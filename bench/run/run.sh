#!/usr/bin/env bash
# bench/run: `docker run --rm busybox true` end to end (median of RUNS, default 10) and PARALLEL
# (default 50) `docker run -d busybox sleep 60` until all run, beside the bare instant clone of a
# ContainerVM (bench/containervm) measured in the same run. Goals on a 2-core TCG machine: single
# run <= 0.5 s median; 50 parallel <= 15 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${RUNS:-10}
parallel=${PARALLEL:-50}
work=$(mktemp -d /tmp/bench-run.XXXX)
cleanup() {
  [ -n "${endpoint:-}" ] && kill "$endpoint" 2>/dev/null || true
  [ -n "${registry:-}" ] && kill "$registry" 2>/dev/null || true
  pkill -f "$work/data/qemu" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null || { echo "failed: $*" >&2; tail -5 "$work/endpoint.log" >&2; exit 1; }; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

iso/build.sh >/dev/null
reg_port=$(free_port)
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$work/registry" "$reg_port" >"$work/registry.yml"
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$reg_port/v2/" >/dev/null && break; sleep 0.1; done
scripts/seed-busybox.sh "127.0.0.1:$reg_port" >/dev/null

port=$(free_port)
dotnet out/vch-endpoint/vch-endpoint.dll -H "tcp://127.0.0.1:$port" --data-dir "$work/data" \
  --registry-mirror "http://127.0.0.1:$reg_port" --backend qemu \
  --containervm-kernel iso/out/vmlinux --containervm-initramfs iso/out/initramfs.cpio \
  --pool-cpu $((parallel + 4)) --pool-memory $(((parallel + 4) * 256))m >"$work/endpoint.log" 2>&1 &
endpoint=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/_ping" >/dev/null && break; sleep 0.1; done
export DOCKER_HOST="tcp://127.0.0.1:$port"
docker pull -q busybox >/dev/null
docker run --rm busybox true >/dev/null # builds the template once

single=()
for _ in $(seq 1 "$runs"); do single+=("$(seconds docker run --rm busybox true)"); done
single_median=$(printf '%s\n' "${single[@]}" | median)

start=$(date +%s.%N)
jobs_started=()
for i in $(seq 1 "$parallel"); do docker run -d --name "p$i" busybox sleep 60 >/dev/null & jobs_started+=($!); done
# Only the docker runs: a bare `wait` would also wait for the registry and the endpoint.
for pid in "${jobs_started[@]}"; do wait "$pid" || echo "a parallel docker run failed" >&2; done
deadline=$(( $(date +%s) + 300 ))
while [ "$(docker ps -q | wc -l)" -lt "$parallel" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
all_running=$(echo "$(date +%s.%N) - $start" | bc)
up=$(docker ps -q | wc -l)
docker ps -aq | xargs -r docker rm -f >/dev/null

clone=$(RUNS=5 dotnet run -c Release --project bench/containervm -v quiet | awk '/instant clone to tether ready/ {print $(NF-5)}')
printf 'docker run --rm busybox true (median of %d): %.3f s (goal <= 0.5 s)\n' "$runs" "$single_median"
printf '%d parallel docker run -d busybox sleep 60, to all running: %.1f s (goal <= 15 s; %d of %d running at the end)\n' "$parallel" "$all_running" "$up" "$parallel"
printf 'bare instant clone to tether ready (median of 5, same run): %s s; docker run / clone: %.1fx\n' "$clone" "$(echo "$single_median / $clone" | bc -l)"
