#!/usr/bin/env bash
# Starts a throw-away OpenStack Swift with the s3api middleware: the local S3 server for tests and `npm start`.
# usage: scripts/swift-up.sh STATE_DIR      env: PROXY_PORT=8080 OBJ_PORT=6200 S3_REGION=us-east-1
# S3 endpoint http://127.0.0.1:$PROXY_PORT (path-style), access key "test:tester", secret "testing";
# clients must sign with region $S3_REGION ("auto" signs like R2). Object/container/account servers use
# $OBJ_PORT..$OBJ_PORT+2. PID files go to STATE_DIR/run/*.pid; stop with scripts/swift-down.sh STATE_DIR.
# Needs the Debian packages swift swift-proxy swift-account swift-container swift-object (scripts/install-deps.sh).
set -euo pipefail

S=$(realpath -m "${1:?usage: swift-up.sh STATE_DIR}")
PP=${PROXY_PORT:-8080}
OP=${OBJ_PORT:-6200}
REGION=${S3_REGION:-us-east-1}
HERE=$(cd "$(dirname "$0")" && pwd)
READY_TIMEOUT_S=${SWIFT_READY_TIMEOUT_S:-60}

for tool in swift-ring-builder swift-proxy-server swift-object-server swift-container-server swift-account-server curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "swift-up: '$tool' not found; run scripts/install-deps.sh swift" >&2; exit 1; }
done

mkdir -p "$S/etc" "$S/srv/d1" "$S/run" "$S/log"

# A previous run that was not stopped (crash, kill -9 of the parent) leaves servers holding the ports:
# stop whatever our PID files still point at before starting again.
if ls "$S"/run/*.pid >/dev/null 2>&1; then
  "$HERE/swift-down.sh" "$S" >/dev/null 2>&1 || true
fi

# Swift keeps object metadata in user xattrs; without them every PUT fails with a 500 deep inside the
# object server, which is much harder to diagnose than this check.
if ! python3 - "$S/srv/d1" <<'PY' 2>/dev/null
import os, sys, tempfile
fd, p = tempfile.mkstemp(dir=sys.argv[1])
try:
    os.setxattr(p, "user.berth.probe", b"1")
finally:
    os.close(fd); os.unlink(p)
PY
then
  fs=$(df -T "$S" 2>/dev/null | awk 'NR==2 {print $2}')
  echo "swift-up: $S (filesystem ${fs:-unknown}) does not support user xattrs, which Swift needs." >&2
  echo "swift-up: use a state dir on ext4/xfs/btrfs (e.g. under the project directory instead of /tmp)." >&2
  exit 1
fi

# Refuse busy ports: otherwise the health check below could be answered by some other server.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$PP" "$OP" $((OP + 1)) $((OP + 2)); do
  if port_busy "$p"; then
    echo "swift-up: 127.0.0.1:$p is already in use; choose other PROXY_PORT/OBJ_PORT" >&2
    exit 1
  fi
done

# Rings encode the servers' ports, so rebuild them on every start (the ports may differ from last time).
# Data under srv/ stays valid: same partition power, one device.
cd "$S/etc"
rm -f ./*.builder ./*.ring.gz ./backups/*
i=0
for n in object container account; do
  p=$((OP + i)); i=$((i + 1))
  swift-ring-builder $n.builder create 8 1 1 >/dev/null
  swift-ring-builder $n.builder add "r1z1-127.0.0.1:$p/d1" 100 >/dev/null
  # rebalance exits 1 with a warning about balance for a one-device ring; the ring is still written.
  swift-ring-builder $n.builder rebalance >/dev/null || true
  [ -f $n.ring.gz ] || { echo "swift-up: could not build the $n ring" >&2; exit 1; }
  cat >$n-server.conf <<CONF
[DEFAULT]
devices = $S/srv
mount_check = false
disable_fallocate = true
bind_ip = 127.0.0.1
bind_port = $p
workers = 0
swift_dir = $S/etc
user = root
[pipeline:main]
pipeline = $n-server
[app:$n-server]
use = egg:swift#$n
CONF
done

# tempauth user test:tester / testing with .admin, so S3 requests can create buckets (containers).
cat >proxy-server.conf <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PP
workers = 0
swift_dir = $S/etc
user = root
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
[filter:s3api]
use = egg:swift#s3api
location = $REGION
s3_acl = false
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:11211
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
CONF

cd "$S"
for n in object container account proxy; do
  # stdin from /dev/null: the servers must not hold the caller's terminal or pipe open.
  "swift-$n-server" "$S/etc/$n-server.conf" </dev/null >"log/$n.log" 2>&1 &
  echo $! >"run/$n.pid"
done

fail() {
  echo "swift-up: $1" >&2
  for n in object container account proxy; do
    echo "--- $S/log/$n.log (last lines)" >&2
    tail -n 20 "log/$n.log" >&2 || true
  done
  "$HERE/swift-down.sh" "$S" >/dev/null 2>&1 || true
  exit 1
}

# Ready = every backend port accepts connections and the proxy answers its health check.
deadline=$((SECONDS + READY_TIMEOUT_S))
while :; do
  for n in object container account proxy; do
    kill -0 "$(cat "run/$n.pid")" 2>/dev/null || fail "swift-$n-server exited during start-up"
  done
  if port_busy "$OP" && port_busy $((OP + 1)) && port_busy $((OP + 2)) &&
    curl -sf --max-time 2 "http://127.0.0.1:$PP/healthcheck" >/dev/null 2>&1; then
    echo "swift s3api ready on 127.0.0.1:$PP (region $REGION)"
    exit 0
  fi
  [ $SECONDS -lt $deadline ] || fail "not ready after ${READY_TIMEOUT_S}s"
  sleep 0.2
done
