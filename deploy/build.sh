#!/usr/bin/env bash
# Builds the cuttle binary (static, no cgo) and the images cuttle:dev and
# cuttle-tools:dev from it, pulling nothing. Run from anywhere.
#   CUTTLE_IMAGE, CUTTLE_TOOLS_IMAGE: image names (default cuttle:dev, cuttle-tools:dev)
set -euo pipefail
deploy=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$deploy")
image=${CUTTLE_IMAGE:-cuttle:dev}
tools=${CUTTLE_TOOLS_IMAGE:-cuttle-tools:dev}
busybox=${BUSYBOX:-/bin/busybox}

mkdir -p "$deploy/bin"
(cd "$root" && CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X main.version=$(git describe --always --dirty 2>/dev/null || echo dev)" \
	-o "$deploy/bin/cuttle" ./cmd/cuttle)
cp /etc/ssl/certs/ca-certificates.crt "$deploy/bin/ca-certificates.crt"
if ! file "$busybox" 2>/dev/null | grep -q 'statically linked'; then
	echo "build.sh: $busybox is not a statically linked busybox; install Debian's busybox-static (apt-get install busybox-static) or set BUSYBOX" >&2
	exit 1
fi
cp "$busybox" "$deploy/bin/busybox"
docker build -q --target runtime -t "$image" "$deploy" >/dev/null
docker build -q --target tools -t "$tools" "$deploy" >/dev/null
echo "built $image and $tools ($(du -h "$deploy/bin/cuttle" | cut -f1) binary)"
