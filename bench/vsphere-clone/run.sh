#!/usr/bin/env bash
# bench/vsphere-clone: on the project's simulator (vcsim, guests played as QEMU VMs with the vSphere
# hardware), a ContainerVM to its tether answering: instant clone of the VCH's parent, linked clone
# of its template, cold boot of the ISO. RUNS (default 5) runs each, medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet run -c Release --project bench/vsphere-clone -v quiet
