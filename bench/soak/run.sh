#!/usr/bin/env bash
# bench/soak: CYCLES (default 200) cycles of `docker run -d --rm busybox sleep 60`, `docker exec` in it
# (attached and detached) and `docker kill` (its --rm removes it), through the docker CLI. Prints
# the endpoint's managed heap (after a full collection), threads, open file descriptors, RSS and the
# per-container state its runtime holds, after WARMUP (default 10) cycles and after all of them.
# Goal: flat; the per-container state back to what it was, the rest within noise.
# Reference: the same figures after the warm-up, in the same run.
source "$(dirname "$0")/../lib.sh"
cycles=${CYCLES:-200}
warmup=${WARMUP:-10}

iso/build.sh >/dev/null
start_registry
start_endpoint vch
metrics_url="${endpoint_host/tcp:/http:}/metrics"

cycle() {
  local id
  id=$(DOCKER_HOST=$endpoint_host docker run -d --rm busybox sleep 60)
  [ "$(DOCKER_HOST=$endpoint_host docker exec "$id" echo hi)" = "hi" ] || { echo "exec in $id failed" >&2; exit 1; }
  DOCKER_HOST=$endpoint_host docker exec -d "$id" sh -c 'yes | head -c 100000'
  DOCKER_HOST=$endpoint_host docker kill "$id" >/dev/null
  # --rm removes it after the kill: wait for that, so the next cycle starts from nothing.
  for _ in $(seq 1 100); do DOCKER_HOST=$endpoint_host docker inspect "$id" >/dev/null 2>&1 || return 0; sleep 0.1; done
  echo "$id was not removed after its kill" >&2
  exit 1
}

# figures: one line of the endpoint's figures now.
figures() {
  local m
  m=$(curl -sf "$metrics_url")
  value() { echo "$m" | awk -v k="$1" '$1 == k {print $2}'; }
  printf 'heap %.1f MiB, threads %s, fds %s, RSS %s MiB, runtime states %s, exec sessions %s, containers %s, ContainerVMs %s\n' \
    "$(echo "$(value vch_process_managed_heap_bytes) / 1048576" | bc -l)" "$(value vch_process_threads)" "$(value vch_process_open_fds)" \
    "$(($(awk '/^VmRSS:/ {print $2}' "/proc/$endpoint_pid/status") / 1024))" "$(value vch_runtime_states)" "$(value vch_runtime_exec_sessions)" \
    "$(DOCKER_HOST=$endpoint_host docker ps -aq | wc -l)" "$(vm_pids vch | wc -l)"
}

for _ in $(seq 1 "$warmup"); do cycle; done
sleep 2
before=$(figures)
start=$(date +%s)
for _ in $(seq 1 "$cycles"); do cycle; done
sleep 2
after=$(figures)
echo "after $warmup warm-up cycles:    $before"
echo "after $cycles more cycles ($(($(date +%s) - start)) s): $after"
