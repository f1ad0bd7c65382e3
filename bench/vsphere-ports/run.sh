#!/usr/bin/env bash
# bench/vsphere-ports: a published port of a ContainerVM on vSphere (the endpoint's relay over the
# guest's serial channel), on the project's simulator with a real guest (QEMU, TCG): the time to
# fetch MB megabytes (default 8) through the port, beside the same bytes through the same channel
# as `docker exec cat` and `docker cp`, in the same run; medians of RUNS (default 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet run -c Release --project bench/vsphere-ports -v quiet
