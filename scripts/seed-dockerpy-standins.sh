#!/usr/bin/env bash
# Pushes to REGISTRY the images docker-py 5.0.3's integration suite pulls, as busybox-based stand-ins
# for a machine that cannot reach Docker Hub:
#   alpine:3.10, alpine:latest  busybox with Alpine's postgres user and group (uid/gid 70), which the
#                               exec-as-user test runs `whoami` as
#   hello-world:latest          one layer of its own (a static busybox that prints Docker's
#                               greeting), so pruning it frees bytes as the real one does
# Usage: seed-dockerpy-standins.sh HOST:PORT
set -euo pipefail
registry=${1:?usage: seed-dockerpy-standins.sh HOST:PORT}
here=$(dirname "$0")
. "$here/oci-image.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
path_env='"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]'

mkdir -p "$work/alpine" "$work/hello"
busybox_rootfs "$work/alpine/rootfs"
echo 'postgres:x:70:70:PostgreSQL user:/var/lib/postgresql:/bin/sh' >>"$work/alpine/rootfs/etc/passwd"
echo 'postgres:x:70:' >>"$work/alpine/rootfs/etc/group"
echo '3.10.9' >"$work/alpine/rootfs/etc/alpine-release"
reproducible_layer "$work/alpine/rootfs" "$work/alpine/alpine-standin.tar"
oci_image "$work/alpine" "{$path_env,\"Cmd\":[\"/bin/sh\"]}" "$work/alpine/alpine-standin.tar" >/dev/null
oci_push "$work/alpine" "$registry" library/alpine:3.10 library/alpine:latest alpine:3.10 alpine:latest

# The greeting from a static binary: busybox picks its applet by the name it is run as, so it
# keeps its own name and is given echo.
mkdir -p "$work/hello/rootfs"
cp /bin/busybox "$work/hello/rootfs/busybox"
reproducible_layer "$work/hello/rootfs" "$work/hello/hello-standin.tar"
oci_image "$work/hello" "{$path_env,\"Cmd\":[\"/busybox\",\"echo\",\"Hello from Docker!\"]}" "$work/hello/hello-standin.tar" >/dev/null
oci_push "$work/hello" "$registry" library/hello-world:latest hello-world:latest
echo "seeded $registry with the alpine:3.10, alpine:latest and hello-world stand-ins"
