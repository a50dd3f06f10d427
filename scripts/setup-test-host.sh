#!/usr/bin/env bash
# Prepares this machine for whippet's kernel and Docker tests, idempotently:
# Debian packages, a running dockerd, tracefs, and the local busybox image the
# end-to-end tests run (no image can be pulled). As non-root it only reports what
# is missing; the tests that need it then skip with the reason (or fail under
# WHIPPET_REQUIRE_E2E=1).
set -euo pipefail

PKGS=(docker.io busybox-static clang llvm libbpf-dev bpftool)
IMAGE=whippet-busybox:latest
log() { echo "setup-test-host: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
	log "not root: skipping package install, dockerd and tracefs"
	exit 0
fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! mountpoint -q /sys/kernel/tracing 2>/dev/null; then
	mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || log "could not mount tracefs"
fi

if ! docker version >/dev/null 2>&1; then
	log "starting dockerd"
	mkdir -p /var/log
	nohup dockerd --iptables=false --bridge=none >/var/log/whippet-dockerd.log 2>&1 &
	for _ in $(seq 1 60); do
		docker version >/dev/null 2>&1 && break
		sleep 0.5
	done
	docker version >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/whippet-dockerd.log"; exit 1; }
fi

if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
	log "building $IMAGE from busybox-static"
	tmp=$(mktemp -d)
	mkdir -p "$tmp/bin" "$tmp/tmp" "$tmp/etc"
	cp /bin/busybox "$tmp/bin/busybox"
	for a in sh sleep cat dd yes head true ls ps echo seq; do ln -s busybox "$tmp/bin/$a"; done
	echo 'root:x:0:0:root:/root:/bin/sh' >"$tmp/etc/passwd"
	tar -C "$tmp" -c . | docker import - "$IMAGE" >/dev/null
	rm -rf "$tmp"
fi
log "ready"
