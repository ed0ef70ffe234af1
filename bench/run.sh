#!/usr/bin/env bash
# The benchmark, from a fresh clone: builds Release, fetches MNIST if missing, checks for PyTorch, then
# alternates our trainer and PyTorch (bench/pytorch_ref.py) and writes bench/results/<date>-<machine>.md and .png.
#   bench/run.sh                          5 repetitions of 9 configurations, 20,480 images (about 15 minutes on 2 cores)
#   bench/run.sh --reps 2 --images 2560   a quick check
#   bench/run.sh --default-run            also the default `train` once: time to 99.5%, drift, RSS per epoch
#   bench/run.sh --help                   every option
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python=/usr/bin/python3
for ((i = 1; i <= $#; i++)); do
  if [[ "${!i}" == --python ]]; then j=$((i + 1)); python="${!j:-}"; fi
done

command -v dotnet >/dev/null || { echo "error: dotnet is missing: install the .NET 10 SDK" >&2; exit 1; }
echo "building (Release)..."
quietly() { local out; if ! out="$("$@" 2>&1)"; then echo "$out" >&2; echo "error: failed: $*" >&2; exit 1; fi; }
quietly dotnet build -c Release DataParallel.sln -nologo
quietly dotnet build -c Release bench/Bench/Bench.csproj -nologo
quietly deploy/get-mnist.sh "$root/data/mnist"

if ! "$python" -c 'import torch' 2>/dev/null; then
  echo "PyTorch is missing: the PyTorch rows will be marked absent. To include them: apt-get install python3-torch" >&2
  echo "(Debian's package; it is used through $python)" >&2
fi

BENCH_COMMAND="bench/run.sh${*:+ $*}" exec bench/Bench/bin/Release/net10.0/Bench --repository "$root" "$@"
