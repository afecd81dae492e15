#!/bin/sh
# The one command that builds the vigil binary, used by `make build` and by
# the Debian package (packaging/build-deb.sh), so that both are the same
# binary: static (no cgo: it runs on any Linux of its architecture), without
# the build machine's paths, stripped, with the version stamped in.
#
#   scripts/build.sh OUT VERSION
#
# Environment: GO (default: go); GOARCH and the other go variables as usual.
set -eu
out=$1
version=$2
cd "$(dirname "$0")/.."
CGO_ENABLED=0 ${GO:-go} build -trimpath -ldflags "-s -w -X main.version=$version" -o "$out" ./cmd/vigil
