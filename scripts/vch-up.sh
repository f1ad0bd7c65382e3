#!/usr/bin/env bash
# Starts the local VCH in the background (once) and prints how to point docker at it.
set -euo pipefail
. "$(dirname "$0")/vch-lib.sh"
home=${VCH_HOME:?}
port=${VCH_PORT:-2375}
admin_port=${VCH_ADMIN_PORT:-2378}
mkdir -p "$home"
pidfile="$home/endpoint.pid"
sock="$home/docker.sock"

# The local registry: Debian's distribution 2.8 with its own config, seeded with busybox,
# debian:bookworm and nginx (scripts/seed-debian.sh) and the images docker-py's suite pulls
# (scripts/seed-dockerpy-standins.sh), serving
# as the VCH's docker.io mirror so that `docker pull busybox` works offline.
registry_port=${VCH_REGISTRY_PORT:-5000}
registry_pid="$home/registry.pid"
if [ -f "$registry_pid" ] && kill -0 "$(cat "$registry_pid")" 2>/dev/null; then
  echo "registry: already running (pid $(cat "$registry_pid"))"
else
  mkdir -p "$home/registry"
  cat >"$home/registry/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $home/registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$registry_port
YAML
  nohup docker-registry serve "$home/registry/config.yml" >>"$home/registry.log" 2>&1 &
  echo $! >"$registry_pid"
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$registry_port/v2/" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$registry_port/v2/" >/dev/null || { echo "registry: no answer on port $registry_port; see $home/registry.log" >&2; exit 1; }
  echo "registry: started on 127.0.0.1:$registry_port (pid $(cat "$registry_pid"))"
fi
if ! curl -sf "http://127.0.0.1:$registry_port/v2/library/busybox/tags/list" | grep -q latest; then
  scripts/seed-busybox.sh "127.0.0.1:$registry_port"
fi
if ! curl -sf "http://127.0.0.1:$registry_port/v2/library/nginx/tags/list" | grep -q latest; then
  scripts/seed-debian.sh "127.0.0.1:$registry_port"
fi
if ! curl -sf "http://127.0.0.1:$registry_port/v2/library/hello-world/tags/list" | grep -q latest; then
  scripts/seed-dockerpy-standins.sh "127.0.0.1:$registry_port"
fi

# Which build runs: an endpoint started from an older publish is restarted on this one. Its
# ContainerVMs keep running and are re-attached by the new endpoint.
build=$(sha256sum out/vch-endpoint/*.dll | sha256sum | cut -d' ' -f1)
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && [ "$(cat "$home/endpoint.build" 2>/dev/null)" != "$build" ]; then
  echo "vch: the endpoint was built anew; restarting it"
  stop_pidfile "$pidfile" 10
fi
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "vch: already running (pid $(cat "$pidfile"))"
else
  # The ContainerVM boot files: Debian's cloud kernel and our initramfs (vic-init, vic-exec, tether).
  iso/build.sh >/dev/null
  # vicadmin's login: admin and a random password, in a file only this user reads (kept across runs).
  if [ ! -s "$home/vicadmin-password" ]; then
    (umask 077 && echo "admin:$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')" >"$home/vicadmin-password")
  fi
  nohup dotnet out/vch-endpoint/vch-endpoint.dll \
    -H "tcp://127.0.0.1:$port" -H "unix://$sock" \
    --name local-vch --data-dir "$home/data" \
    --backend qemu --containervm-kernel iso/out/vmlinux --containervm-initramfs iso/out/initramfs.cpio \
    --registry-mirror "http://127.0.0.1:$registry_port" \
    --vicadmin "127.0.0.1:$admin_port" --vicadmin-password-file "$home/vicadmin-password" \
    >>"$home/endpoint.log" 2>&1 &
  echo $! >"$pidfile"
  echo "$build" >"$home/endpoint.build"
  for _ in $(seq 1 100); do
    if curl -sf "http://127.0.0.1:$port/_ping" >/dev/null; then break; fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "vch: the endpoint exited; see $home/endpoint.log" >&2
      tail -20 "$home/endpoint.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:$port/_ping" >/dev/null || { echo "vch: no answer on port $port" >&2; exit 1; }
  echo "vch: started (pid $(cat "$pidfile")), log in $home/endpoint.log"
fi

echo
echo "export DOCKER_HOST=tcp://127.0.0.1:$port"
echo "# or: export DOCKER_HOST=unix://$sock"
echo "# vicadmin: https://127.0.0.1:$admin_port/ (user admin, password in $home/vicadmin-password)"
