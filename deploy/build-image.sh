#!/usr/bin/env bash
# Builds the whippet image from a binary `make build` produced. The build
# context is a temporary directory holding only the Dockerfile, the binary and
# the CA bundle, so nothing else of the checkout is sent to the daemon.
#
# usage: deploy/build-image.sh [binary] [tag]
#   binary  default bin/whippet (must be statically linked: the image has no libc)
#   tag     default $IMAGE, else whippet:latest
# CA_CERTS overrides the CA bundle (default /etc/ssl/certs/ca-certificates.crt).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-bin/whippet}
tag=${2:-${IMAGE:-whippet:latest}}
ca=${CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}

[ -x "$bin" ] || { echo "build-image: $bin: no executable (run make build)" >&2; exit 1; }
[ -s "$ca" ] || { echo "build-image: $ca: no CA bundle" >&2; exit 1; }
if command -v readelf >/dev/null && readelf -l "$bin" 2>/dev/null | grep -q 'INTERP'; then
	echo "build-image: $bin is dynamically linked; build with CGO_ENABLED=0" >&2
	exit 1
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$here/Dockerfile" "$ctx/Dockerfile"
cp "$bin" "$ctx/whippet"
cp "$ca" "$ctx/ca-certificates.crt"

# Without the buildx plugin, Docker ≥ 23 refuses BuildKit builds; the classic
# builder handles this Dockerfile (FROM scratch: nothing to pull).
if ! docker buildx version >/dev/null 2>&1; then
	export DOCKER_BUILDKIT=0
fi
docker build --quiet --tag "$tag" "$ctx" >/dev/null
echo "$tag"
