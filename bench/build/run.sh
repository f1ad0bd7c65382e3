#!/usr/bin/env bash
# bench/build: docker build (classic builder, DOCKER_BUILDKIT=0) on the VCH of a Dockerfile with 5
# RUNs and 2 COPYs of a 50 MB context, cold (--no-cache) and then rebuilt with nothing changed, beside
# Debian's buildah (buildah bud --isolation chroot --layers) building the same Dockerfile from the
# same registry in the same run. Per step: its wall time and, for a RUN, how long from its process's
# start to its ContainerVM's end (the step container's StartedAt to FinishedAt, kept with --rm=false:
# the command, then its layer read back from the same VM); the rest is the container's create, the
# clone and the guest's preparation before the process starts, and the layer's import.
# Goals: a cached rebuild <= 1 s; a RUN step's overhead over its command <= 1 s on TCG.
source "$(dirname "$0")/../lib.sh"
mb=${CONTEXT_MB:-50}

iso/build.sh >/dev/null
start_registry
start_endpoint vch
vch=$endpoint_host
DOCKER_HOST=$vch docker run --rm busybox true >/dev/null # builds the template once

context=$work/context
mkdir -p "$context/data"
head -c $((mb / 2 * 1024 * 1024)) /dev/urandom >"$context/data/part1"
head -c $((mb / 2 * 1024 * 1024)) /dev/urandom >"$context/data/part2"
cat >"$context/Dockerfile" <<'DOCKERFILE'
ARG BASE=busybox
FROM $BASE
COPY data/part1 /data/part1
RUN md5sum /data/part1 > /data/part1.md5
COPY data/part2 /data/part2
RUN md5sum /data/part2 > /data/part2.md5
RUN echo one > /one
RUN echo two > /two
RUN cat /data/*.md5 > /sums
DOCKERFILE

# stamped CMD...: runs CMD, each line of its output prefixed with the seconds since the epoch.
stamped() { "$@" 2>&1 | while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "$line"; done; }
elapsed() { echo "$2 - $1" | bc; }

start=$(date +%s.%N)
DOCKER_HOST=$vch DOCKER_BUILDKIT=0 stamped docker build --no-cache --rm=false -t bench:cold "$context" >"$work/cold.out"
cold=$(elapsed "$start" "$(date +%s.%N)")
start=$(date +%s.%N)
DOCKER_HOST=$vch DOCKER_BUILDKIT=0 docker build -t bench:cached "$context" >"$work/cached.out"
cached=$(elapsed "$start" "$(date +%s.%N)")
grep -q "Successfully built" "$work/cached.out" || { cat "$work/cached.out" >&2; exit 1; }
hits=$(grep -c "Using cache" "$work/cached.out")

echo "per step of the cold build on the VCH (wall time; for a RUN, its process start to its ContainerVM's end):"
awk '/ Step [0-9]+\/[0-9]+ :/ {print $1; sub(/^[^ ]+ /, ""); print}' "$work/cold.out" >"$work/steps"
end=$(tail -1 "$work/cold.out" | cut -d' ' -f1)
mapfile -t lines <"$work/steps"
run_overheads=()
for ((i = 0; i < ${#lines[@]}; i += 2)); do
  t0=${lines[i]}
  t1=${lines[i + 2]:-$end}
  step=${lines[i + 1]}
  wall=$(elapsed "$t0" "$t1")
  detail=""
  container=$(awk -v s="$step" 'index($0, s) {found=1; next} found && /Running in/ {print $NF; exit} found && /Step / {exit}' "$work/cold.out")
  if [ -n "$container" ]; then
    times=$(DOCKER_HOST=$vch docker inspect -f '{{.State.StartedAt}} {{.State.FinishedAt}}' "$container")
    vm=$(python3 -c 'import sys, datetime as d; a, b = (d.datetime.fromisoformat(x[:26].rstrip("Z")) for x in sys.argv[1:3]); print(f"{(b - a).total_seconds():.3f}")' $times)
    detail=$(printf ', process and layer read %.2f s (%.0f %%)' "$vm" "$(echo "100 * $vm / $wall" | bc -l)")
    run_overheads+=("$wall")
  fi
  printf '  %6.2f s  %s%s\n' "$wall" "$step" "$detail"
done
DOCKER_HOST=$vch docker ps -aq | xargs -r env DOCKER_HOST="$vch" docker rm -f >/dev/null
# The overhead of a RUN whose command takes no time: the median of the two echo steps' wall time.
run_overhead=$(printf '%s\n' "${run_overheads[2]}" "${run_overheads[3]}" | median)

# The same Dockerfile with buildah, cold then cached, from the same registry.
export BUILDAH_ISOLATION=chroot
storage=(--root "$work/buildah/root" --runroot "$work/buildah/run" --storage-driver vfs)
reference="buildah bud --isolation chroot --layers"
buildah_build() { buildah "${storage[@]}" bud --isolation chroot --layers --tls-verify=false --build-arg "BASE=127.0.0.1:$reg_port/library/busybox" -q "$@" "$context" >/dev/null; }
if buildah_build -t warmup 2>"$work/buildah.err"; then
  buildah "${storage[@]}" rmi -a -f >/dev/null 2>&1 || true
  buildah "${storage[@]}" pull -q --tls-verify=false "127.0.0.1:$reg_port/library/busybox" >/dev/null
  start=$(date +%s.%N)
  buildah_build --no-cache -t bench:cold
  ref_cold=$(elapsed "$start" "$(date +%s.%N)")
  start=$(date +%s.%N)
  buildah_build -t bench:cached
  ref_cached=$(elapsed "$start" "$(date +%s.%N)")
else
  reference="buildah (did not run here: $(tail -1 "$work/buildah.err"))"
fi

printf 'docker build, 5 RUNs and 2 COPYs of a %d MB context, cold: VCH %.2f s' "$mb" "$cold"
[ -n "${ref_cold:-}" ] && printf ', %s %.2f s: %.2fx' "$reference" "$ref_cold" "$(echo "$cold / $ref_cold" | bc -l)"
echo
printf 'cached rebuild (%d steps from the cache): VCH %.3f s (goal <= 1 s)' "$hits" "$cached"
[ -n "${ref_cached:-}" ] && printf ', %s %.3f s: %.2fx' "$reference" "$ref_cached" "$(echo "$cached / $ref_cached" | bc -l)"
echo
printf 'a RUN step whose command takes no time (RUN echo one > /one): %.2f s of overhead on TCG (goal <= 1 s)\n' "$run_overhead"
