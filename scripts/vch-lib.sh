# Sourced by vch-up.sh and vch-down.sh.

# Stops the process in a pid file: SIGTERM, SECONDS (default 5) to go, then SIGKILL; removes the file.
stop_pidfile() { # pidfile [seconds]
  local pid
  pid=$(cat "$1")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $(( ${2:-5} * 10 ))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$1"
}
