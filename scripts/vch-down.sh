#!/usr/bin/env bash
# Stops what `make up` started: the containers (as dockerd stops its containers when it shuts down;
# their ContainerVMs power off), the endpoint and the registry. The data stays; `make up` brings the
# VCH back with its images, volumes and stopped containers.
set -euo pipefail
. "$(dirname "$0")/vch-lib.sh"
home=${VCH_HOME:?}
pidfile="$home/endpoint.pid"
sock="$home/docker.sock"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  pid=$(cat "$pidfile")
  running=$(docker -H "unix://$sock" ps -q 2>/dev/null || true)
  if [ -n "$running" ]; then
    # shellcheck disable=SC2086 # one id a word
    docker -H "unix://$sock" stop -t 10 $running >/dev/null 2>&1 || true
    echo "vch: stopped $(wc -w <<<"$running") container(s)"
  fi
  stop_pidfile "$pidfile"
  echo "vch: stopped (pid $pid)"
else
  echo "vch: not running"
fi
rm -f "$pidfile"

# A ContainerVM the endpoint could not stop (or one left by an endpoint that died) is a QEMU
# process started with this VCH's data folder on its command line.
for proc in /proc/[0-9]*; do
  if [ "$(cat "$proc/comm" 2>/dev/null)" = qemu-system-x86 ] && tr '\0' ' ' <"$proc/cmdline" 2>/dev/null | grep -qF "$home/data/"; then
    kill -KILL "${proc#/proc/}" 2>/dev/null && echo "vch: powered off ContainerVM (pid ${proc#/proc/})"
  fi
done

registry_pid="$home/registry.pid"
if [ -f "$registry_pid" ] && kill -0 "$(cat "$registry_pid")" 2>/dev/null; then
  kill -TERM "$(cat "$registry_pid")"
  echo "registry: stopped"
fi
rm -f "$registry_pid"
