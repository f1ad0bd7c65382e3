#!/usr/bin/env bash
# Stops what `make up` started.
set -euo pipefail
home=${VCH_HOME:?}
pidfile="$home/endpoint.pid"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  echo "vch: stopped (pid $pid)"
else
  echo "vch: not running"
fi
rm -f "$pidfile"

registry_pid="$home/registry.pid"
if [ -f "$registry_pid" ] && kill -0 "$(cat "$registry_pid")" 2>/dev/null; then
  kill -TERM "$(cat "$registry_pid")"
  echo "registry: stopped"
fi
rm -f "$registry_pid"
