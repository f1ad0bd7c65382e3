#!/usr/bin/env bash
# Publishes the endpoint to out/vch-endpoint (what `make up` runs). A running endpoint maps the
# published files, so a new build never overwrites them in place: it is published aside and swapped
# in with renames, and only when it differs. vch-up.sh restarts an endpoint whose build changed.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-Release}
out=out/vch-endpoint
next=out/vch-endpoint.next
rm -rf "$next"
dotnet publish vch-endpoint/Vic.Endpoint -c "$config" -o "$next" --nologo -v quiet
if [ -d "$out" ] && diff -rq "$out" "$next" >/dev/null; then
  rm -rf "$next"
  exit 0
fi
rm -rf out/vch-endpoint.old
[ ! -d "$out" ] || mv "$out" out/vch-endpoint.old
mv "$next" "$out"
rm -rf out/vch-endpoint.old
