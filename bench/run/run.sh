#!/usr/bin/env bash
# bench/run: through the docker CLI, the VCH beside the reference engine (Debian's podman 4.3 with
# runc) in the same run: `docker run --rm busybox true` (median of RUNS, default 10, the two engines
# taking turns), once back to back and once at a developer's pace (PAUSE seconds, default 3, before
# each run of either engine: the VCH's ready clone is made again in such a pause), and PARALLEL
# (default 50) `docker run -d busybox sleep 60` until all run.
# Goals: run --rm <= 1.0x podman's; 50 parallel <= 1.5x podman's.
source "$(dirname "$0")/../lib.sh"
runs=${RUNS:-10}
pause=${PAUSE:-3}
parallel=${PARALLEL:-50}
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null || { echo "failed: $*" >&2; exit 1; }; e=$(date +%s.%N); echo "$e - $s" | bc; }

iso/build.sh >/dev/null
start_registry
start_podman
start_endpoint vch --pool-cpu $((parallel + 4)) --pool-memory $(((parallel + 4) * 256))m
vch=$endpoint_host
DOCKER_HOST=$vch docker run --rm busybox true >/dev/null # builds the template once
DOCKER_HOST=$podman_host docker run --rm busybox true >/dev/null

# turns PAUSE: RUNS runs of each engine taking turns, PAUSE seconds before each; prints both medians.
turns() {
  local vch_runs=() podman_runs=()
  for _ in $(seq 1 "$runs"); do
    sleep "$1"
    vch_runs+=("$(DOCKER_HOST=$vch seconds docker run --rm busybox true)")
    sleep "$1"
    podman_runs+=("$(DOCKER_HOST=$podman_host seconds docker run --rm busybox true)")
  done
  echo "$(printf '%s\n' "${vch_runs[@]}" | median) $(printf '%s\n' "${podman_runs[@]}" | median)"
}
read -r vch_median podman_median < <(turns 0)
read -r vch_paced podman_paced < <(turns "$pause")
# Where the last single run's time went, from the endpoint's log (clone 4004 or ready clone 4007, first answer 2008, guest steps 2009).
last_start=$(grep -hE '\[(4004|4007|2008|2009)\]' "$work/vch.log" | tail -3 | sed -E 's/^.*\[(4004|4007|2008|2009)\] (ContainerVM|container) [0-9a-f]{64}:? ?/  /')

# all_running HOST: PARALLEL docker run -d at once, seconds until docker ps lists all of them running,
# and how many run; the containers are removed before it returns (in this shell: the next engine's
# measurement must not share the CPU with this one's clean-up).
all_running() {
  local host=$1 start pids=() deadline
  start=$(date +%s.%N)
  for i in $(seq 1 "$parallel"); do DOCKER_HOST=$host docker run -d --name "p$i" busybox sleep 60 >/dev/null & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid" || echo "a parallel docker run failed" >&2; done
  deadline=$(($(date +%s) + 300))
  while [ "$(DOCKER_HOST=$host docker ps -q | wc -l)" -lt "$parallel" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
  echo "$(echo "$(date +%s.%N) - $start" | bc) $(DOCKER_HOST=$host docker ps -q | wc -l)"
  DOCKER_HOST=$host docker ps -aq | xargs -r env DOCKER_HOST="$host" docker rm -f >/dev/null
}
all_running "$vch" >"$work/vch.parallel"
all_running "$podman_host" >"$work/podman.parallel"
read -r vch_all vch_up <"$work/vch.parallel"
read -r podman_all podman_up <"$work/podman.parallel"

printf 'docker run --rm busybox true, median of %d back to back: VCH %.3f s, podman+runc %.3f s: %.2fx (goal <= 1.0x)\n' "$runs" "$vch_median" "$podman_median" "$(echo "$vch_median / $podman_median" | bc -l)"
printf 'docker run --rm busybox true, median of %d with %s s between runs: VCH %.3f s, podman+runc %.3f s: %.2fx (goal <= 1.0x)\n' "$runs" "$pause" "$vch_paced" "$podman_paced" "$(echo "$vch_paced / $podman_paced" | bc -l)"
printf '%d parallel docker run -d busybox sleep 60 to all running: VCH %.1f s (%d running), podman+runc %.1f s (%d running): %.2fx (goal <= 1.5x)\n' \
  "$parallel" "$vch_all" "$vch_up" "$podman_all" "$podman_up" "$(echo "$vch_all / $podman_all" | bc -l)"
echo "where the VCH's last single run went (endpoint log):"
echo "$last_start"
