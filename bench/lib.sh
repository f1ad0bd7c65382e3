# Sourced by the benchmarks: a local registry seeded with busybox, and VCH endpoints on free ports,
# all under $work (made here) and all stopped on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=$(mktemp -d /tmp/bench.XXXX)
endpoints=()
registry=""
bench_cleanup() {
  for e in "${endpoints[@]}"; do kill "$e" 2>/dev/null || true; done
  [ -z "$registry" ] || kill "$registry" 2>/dev/null || true
  pkill -f "$work/" 2>/dev/null || true
  # podman's containers leave their shm mounts behind.
  grep -F " $work/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r umount 2>/dev/null || true
  # BENCH_KEEP_LOGS=DIR keeps the endpoints' logs and the clients' output, to see where time went.
  if [ -n "${BENCH_KEEP_LOGS:-}" ]; then mkdir -p "$BENCH_KEEP_LOGS" && cp "$work"/*.log "$work"/*.out "$BENCH_KEEP_LOGS"/ 2>/dev/null || true; fi
  rm -rf "$work"
}
trap bench_cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# start_registry: docker-registry on a free port, seeded with busybox; sets reg_port.
start_registry() {
  reg_port=$(free_port)
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$work/registry" "$reg_port" >"$work/registry.yml"
  docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
  registry=$!
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$reg_port/v2/" >/dev/null && break; sleep 0.1; done
  scripts/seed-busybox.sh "127.0.0.1:$reg_port" >/dev/null
}

# start_endpoint NAME [endpoint options...]: a VCH on the QEMU backend with its data in $work/NAME;
# sets endpoint_host (tcp://...) and endpoint_pid, and pulls busybox into it.
start_endpoint() {
  local name=$1 port
  shift
  port=$(free_port)
  dotnet out/vch-endpoint/vch-endpoint.dll -H "tcp://127.0.0.1:$port" --data-dir "$work/$name" \
    --registry-mirror "http://127.0.0.1:$reg_port" --backend qemu \
    --containervm-kernel iso/out/vmlinux --containervm-initramfs iso/out/initramfs.cpio "$@" >"$work/$name.log" 2>&1 &
  endpoint_pid=$!
  endpoints+=("$endpoint_pid")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/_ping" >/dev/null && break; sleep 0.1; done
  endpoint_host="tcp://127.0.0.1:$port"
  DOCKER_HOST=$endpoint_host docker pull -q busybox >/dev/null
}

# stop_endpoint: removes the endpoint's containers and stops it.
stop_endpoint() {
  DOCKER_HOST=$endpoint_host docker ps -aq | xargs -r env DOCKER_HOST="$endpoint_host" docker rm -f >/dev/null
  kill "$endpoint_pid"
  wait "$endpoint_pid" 2>/dev/null || true
}

# start_podman: the reference engine, Debian's podman 4.3 with runc, serving the Docker API on a free
# loopback port with its own storage under $work, busybox from the local registry tagged as docker.io's;
# sets podman_host. containers.conf: no default ulimits and cgroupfs, as these machines need.
start_podman() {
  local port
  port=$(free_port)
  printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n' >"$work/containers.conf"
  export CONTAINERS_CONF="$work/containers.conf"
  podman_cmd=(podman --root "$work/podman/root" --runroot "$work/podman/run" --runtime runc)
  "${podman_cmd[@]}" pull -q --tls-verify=false "docker://127.0.0.1:$reg_port/library/busybox:latest" >/dev/null
  "${podman_cmd[@]}" tag "127.0.0.1:$reg_port/library/busybox:latest" docker.io/library/busybox:latest
  "${podman_cmd[@]}" system service --time=0 "tcp://127.0.0.1:$port" >"$work/podman.log" 2>&1 &
  endpoints+=("$!")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/_ping" >/dev/null && break; sleep 0.1; done
  podman_host="tcp://127.0.0.1:$port"
}

# The pids of the QEMU processes of ContainerVMs whose data lives under $work/NAME.
vm_pids() { pgrep -f "qemu-system.*$work/$1/" || true; }

# CPU ticks (1/100 s) the processes given have used.
cpu_ticks() { local p t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }

mem_available_kib() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }
