#!/usr/bin/env bash
# bench/containervm: cold boot vs instant clone of a ContainerVM to its tether answering.
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet run -c Release --project bench/containervm -v quiet
