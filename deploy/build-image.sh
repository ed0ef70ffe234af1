#!/usr/bin/env bash
# Builds the image both roles run from (deploy/Dockerfile): publishes Coordinator and Worker self-contained for
# linux-x64 into a staging context, then builds it with podman (or docker).
#   deploy/build-image.sh [TAG]                       default tag: localhost/dataparallel:latest
#   BASE_IMAGE=localhost/debian-base:12 deploy/build-image.sh
#   PUBLISH_DIR=DIR deploy/build-image.sh             keep the published programs in DIR (CI runs them on the host too)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tag="${1:-localhost/dataparallel:latest}"
engine="${CONTAINER_ENGINE:-$(command -v podman || command -v docker || true)}"
[ -n "$engine" ] || { echo "error: neither podman nor docker found (set CONTAINER_ENGINE)" >&2; exit 1; }

context="$(mktemp -d "${TMPDIR:-/tmp}/dataparallel-image.XXXXXX")"
trap 'rm -rf "$context"' EXIT
publish="${PUBLISH_DIR:-$context/app}"
for project in Worker Coordinator; do
  dotnet publish "$root/$project" -c Release -r linux-x64 --self-contained -o "$publish" -nologo -v quiet
done
[ "$publish" = "$context/app" ] || cp -a "$publish" "$context/app"
# The patched native library must be what the image gets (build/LibTorchSharpPatch.targets); a publish
# that lost it would fail only at the first tensor, inside a container.
[ -f "$context/app/libLibTorchSharp.so" ] || { echo "error: $context/app/libLibTorchSharp.so missing from the publish" >&2; exit 1; }
cp "$root/deploy/Dockerfile" "$root/deploy/entrypoint.sh" "$context/"
build_args=()
[ -n "${BASE_IMAGE:-}" ] && build_args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
"$engine" build ${build_args[@]+"${build_args[@]}"} -f "$context/Dockerfile" -t "$tag" "$context"
echo "built $tag"
