#!/usr/bin/env bash
# Installs the system tools Berth's tests and `npm start` need, using Debian's apt.
# usage: scripts/install-deps.sh [GROUP...]     (no GROUP = "swift skopeo")
#   swift      OpenStack Swift + s3api: the local S3 server (plus curl, used for its health check)
#   skopeo     registry client used by the end-to-end tests
#   clients    podman buildah docker.io containerd tini (other registry clients; tini-static runs in test images)
#   reference  docker-registry (CNCF Distribution, the reference implementation)
#   bench      hey (HTTP load generator)
#   chromium   Debian's chromium (the real browser the web UI's end-to-end tests drive with playwright-core)
#   all        every group above
# Idempotent: a group is skipped when all its commands are already on PATH, so a warm machine pays
# only a few `command -v` calls. CI runs on a fresh Debian 12 as root, where nothing is installed yet.
set -euo pipefail

# Each group: "commands that prove it is installed|apt packages|extra apt-get flags".
# Swift's recommends pull in ~100 MB we never use (docs, rsync daemons), hence --no-install-recommends.
group_spec() {
  case "$1" in
    swift) echo "swift-ring-builder swift-proxy-server swift-object-server swift-container-server swift-account-server curl python3|swift swift-proxy swift-account swift-container swift-object curl python3|--no-install-recommends" ;;
    skopeo) echo "skopeo|skopeo|" ;;
    clients) echo "podman buildah dockerd docker containerd ctr tini-static|podman buildah docker.io containerd tini|" ;;
    reference) echo "docker-registry|docker-registry|" ;;
    bench) echo "hey|hey|" ;;
    chromium) echo "chromium|chromium|" ;;
    *) return 1 ;;
  esac
}

groups=("$@")
if [ ${#groups[@]} -eq 0 ]; then groups=(swift skopeo); fi
if [ "${groups[0]}" = "all" ]; then groups=(swift skopeo clients reference bench chromium); fi

# Collect what is missing, per apt-get flag set (swift needs --no-install-recommends, others do not).
missing_cmds=()
plain_pkgs=()
norec_pkgs=()
for g in "${groups[@]}"; do
  if ! spec=$(group_spec "$g"); then
    echo "install-deps: unknown group '$g' (known: swift skopeo clients reference bench chromium all)" >&2
    exit 2
  fi
  IFS='|' read -r cmds pkgs flags <<<"$spec"
  group_missing=()
  for c in $cmds; do
    command -v "$c" >/dev/null 2>&1 || group_missing+=("$c")
  done
  # Swift reads the cluster hash settings from this file; it ships with the `swift` package.
  if [ "$g" = swift ] && [ ! -f /etc/swift/swift.conf ]; then group_missing+=("/etc/swift/swift.conf"); fi
  [ ${#group_missing[@]} -eq 0 ] && continue
  missing_cmds+=("${group_missing[@]}")
  if [ "$flags" = "--no-install-recommends" ]; then
    # shellcheck disable=SC2206  # word splitting of the package list is intended
    norec_pkgs+=($pkgs)
  else
    # shellcheck disable=SC2206
    plain_pkgs+=($pkgs)
  fi
done

if [ ${#missing_cmds[@]} -eq 0 ]; then
  exit 0
fi

explain() {
  echo "install-deps: missing: ${missing_cmds[*]}" >&2
  echo "install-deps: install them as root on Debian 12 with:" >&2
  echo "  apt-get update" >&2
  [ ${#norec_pkgs[@]} -gt 0 ] && echo "  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${norec_pkgs[*]}" >&2
  [ ${#plain_pkgs[@]} -gt 0 ] && echo "  DEBIAN_FRONTEND=noninteractive apt-get install -y ${plain_pkgs[*]}" >&2
  return 0
}

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: not running as root, cannot install system packages." >&2
  explain
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: apt-get not found (this script supports Debian 12 only)." >&2
  explain
  exit 1
fi

echo "install-deps: installing missing tools: ${missing_cmds[*]}" >&2
# docker.io and docker-registry start their packaged services from postinst (invoke-rc.d) where the machine
# allows it: a system dockerd on /var/run/docker.sock with iptables, and a registry on :5000 on every interface.
# The tests run their own daemons on private sockets and 127.0.0.1 ports, so forbid service starts for the
# duration of this install when the machine has no policy of its own (Debian's convention: exit 101 = deny).
if [[ " ${plain_pkgs[*]-} " =~ \ (docker\.io|docker-registry)\  ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# temporary, written by scripts/install-deps.sh: no service starts during apt-get install\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
# One `apt-get update` per run: a fresh container has empty package lists.
# Wait for dpkg's lock instead of failing when another install (a parallel test file's) holds it.
APT=(apt-get -o DPkg::Lock::Timeout=300)
"${APT[@]}" update -q >&2
if [ ${#norec_pkgs[@]} -gt 0 ]; then
  "${APT[@]}" install -y -q --no-install-recommends "${norec_pkgs[@]}" >&2
fi
if [ ${#plain_pkgs[@]} -gt 0 ]; then
  "${APT[@]}" install -y -q "${plain_pkgs[@]}" >&2
fi

# Verify: a package that installed but did not provide the command is still a failure.
still=()
for c in "${missing_cmds[@]}"; do
  case "$c" in
    /*) [ -e "$c" ] || still+=("$c") ;;
    *) command -v "$c" >/dev/null 2>&1 || still+=("$c") ;;
  esac
done
if [ ${#still[@]} -gt 0 ]; then
  echo "install-deps: still missing after apt-get install: ${still[*]}" >&2
  exit 1
fi
echo "install-deps: done" >&2
