#!/usr/bin/env bash
# bench/density: N idle containers (`docker run -d busybox sleep`, N=50 by default; N=100 on
# request) through the docker CLI, and per ContainerVM: host PSS (QEMU's), the drop in the host's
# MemAvailable, and idle CPU (QEMU's, over IDLE seconds, default 30). Beside it, in the same run and
# measured the same way, clones that each read a full copy of the template's RAM (what every clone
# did before copy-on-write; REF_N of them, default 10: 50 full copies do not fit on two cores).
# Goals per idle ContainerVM: PSS <= 48 MiB, MemAvailable drop <= 64 MiB, CPU <= 1 % of a core.
source "$(dirname "$0")/../lib.sh"
n=${N:-50}
ref_n=${REF_N:-10}
idle=${IDLE:-30}
iso/build.sh >/dev/null
start_registry

# measure NAME COUNT MODE: (in this shell, not a subshell: the endpoint it starts is stopped on exit) prints "pss_mib avail_mib cpu_pct endpoint_cpu_pct seconds_to_start running"
# No ready clone: it is not a container, and its QEMU would be counted as one (an adopted clone's
# command line names the ready folder, so the two cannot be told apart).
measure() {
  local name=$1 count=$2 mode=$3 before after start started running t0 t1 e0 e1 pss pids
  start_endpoint "$name" --containervm-clone-memory "$mode" --containervm-ready-clones 0 --pool-cpu $((count + 4)) --pool-memory $(((count + 4) * 256))m
  export DOCKER_HOST=$endpoint_host
  docker run --rm busybox true >/dev/null # the template, built once
  sync; echo 1 >/proc/sys/vm/drop_caches 2>/dev/null || true
  sleep 3
  before=$(mem_available_kib)
  start=$(date +%s.%N)
  local runs=()
  for i in $(seq 1 "$count"); do
    docker run -d --name "idle$i" busybox sleep 100000 >/dev/null &
    runs+=($!)
    # Ten at a time: the figure is what an idle one costs, not how fast many start. (Only the
    # docker runs are waited for: a bare wait would wait for the endpoint and the registry too.)
    if [ ${#runs[@]} -eq 10 ]; then wait "${runs[@]}" || true; runs=(); fi
  done
  [ ${#runs[@]} -eq 0 ] || wait "${runs[@]}" || true
  started=$(echo "$(date +%s.%N) - $start" | bc)
  running=$(docker ps -q | wc -l)
  sleep 10 # let every guest settle into its sleep
  mapfile -t pids < <(vm_pids "$name")
  t0=$(cpu_ticks "${pids[@]}"); e0=$(cpu_ticks "$endpoint_pid")
  sleep "$idle"
  t1=$(cpu_ticks "${pids[@]}"); e1=$(cpu_ticks "$endpoint_pid")
  after=$(mem_available_kib)
  pss=0
  for p in "${pids[@]}"; do pss=$((pss + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup"))); done
  printf '%s %s %s %s %s %s\n' \
    "$(echo "scale=1; $pss / ${#pids[@]} / 1024" | bc)" \
    "$(echo "scale=1; ($before - $after) / $count / 1024" | bc)" \
    "$(echo "scale=2; ($t1 - $t0) / ${#pids[@]} / $idle" | bc)" \
    "$(echo "scale=2; ($e1 - $e0) / $idle" | bc)" \
    "$started" "$running"
  stop_endpoint
}

measure cow "$n" copy-on-write >"$work/cow.result"
measure full "$ref_n" full-copy >"$work/full.result"
read -r cow_pss cow_avail cow_cpu cow_ecpu cow_start cow_running <"$work/cow.result"
read -r full_pss full_avail full_cpu full_ecpu full_start full_running <"$work/full.result"

printf 'idle ContainerVMs (busybox sleep), copy-on-write clones: %d of %d running, started in %.1f s\n' "$cow_running" "$n" "$cow_start"
printf '  per ContainerVM: PSS %s MiB (goal <= 48), MemAvailable drop %s MiB (goal <= 64), idle CPU %s %% of a core (goal <= 1)\n' "$cow_pss" "$cow_avail" "$cow_cpu"
printf '  the endpoint meanwhile: %s %% of a core\n' "$cow_ecpu"
printf 'same run, full-copy clones (each reads the template RAM), %d of %d running:\n' "$full_running" "$ref_n"
printf '  per ContainerVM: PSS %s MiB, MemAvailable drop %s MiB, idle CPU %s %% of a core; the endpoint %s %%\n' "$full_pss" "$full_avail" "$full_cpu" "$full_ecpu"
printf 'ratio full-copy/copy-on-write: PSS %.1fx, MemAvailable drop %.1fx\n' "$(echo "$full_pss / $cow_pss" | bc -l)" "$(echo "$full_avail / $cow_avail" | bc -l)"
