#!/usr/bin/env bash
# Starts the local VCH in the background (once) and prints how to point docker at it.
set -euo pipefail
home=${VCH_HOME:?}
port=${VCH_PORT:-2375}
mkdir -p "$home"
pidfile="$home/endpoint.pid"
sock="$home/docker.sock"

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "vch: already running (pid $(cat "$pidfile"))"
else
  kernel=$(iso/fetch-kernel.sh)
  nohup dotnet out/vch-endpoint/vch-endpoint.dll \
    -H "tcp://127.0.0.1:$port" -H "unix://$sock" \
    --name local-vch --data-dir "$home/data" --containervm-kernel "$kernel" \
    >>"$home/endpoint.log" 2>&1 &
  echo $! >"$pidfile"
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
