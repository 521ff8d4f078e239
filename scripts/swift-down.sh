#!/usr/bin/env bash
# Stops the Swift servers started by scripts/swift-up.sh STATE_DIR, using only its PID files
# (never by process name: other Swift instances, e.g. a parallel test run, must survive).
# usage: scripts/swift-down.sh STATE_DIR
set -uo pipefail

S=$(realpath -m "${1:?usage: swift-down.sh STATE_DIR}")
[ -d "$S/run" ] || exit 0

# A PID file can outlive its process and the PID can be reused: only signal a process whose
# command line names this state dir's config (swift-up.sh passes absolute config paths).
ours() {
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ "$cmd" == *swift-*-server*" $S/etc/"*-server.conf* ]]
}

pids=()
for f in "$S"/run/*.pid; do
  [ -f "$f" ] || continue
  pid=$(cat "$f" 2>/dev/null || true)
  if [[ "$pid" =~ ^[0-9]+$ ]] && ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  fi
  rm -f "$f"
done

# Running = exists and is not a zombie. The servers' parent (swift-up.sh) is gone, so PID 1 reaps them,
# which in some containers takes seconds; a zombie holds no port, so don't wait for the reaping.
running() {
  local _pid _comm state
  read -r _pid _comm state _ <"/proc/$1/stat" 2>/dev/null || return 1
  [ "$state" != Z ] && [ "$state" != X ]
}

# Bounded wait (5 s) for a clean exit, then SIGKILL the stragglers.
for _ in $(seq 1 50); do
  alive=()
  for pid in "${pids[@]}"; do running "$pid" && alive+=("$pid"); done
  [ ${#alive[@]} -eq 0 ] && break
  sleep 0.1
done
for pid in "${pids[@]}"; do running "$pid" && kill -KILL "$pid" 2>/dev/null; done
[ ${#pids[@]} -gt 0 ] && echo "swift stopped (${#pids[@]} processes)"
exit 0
