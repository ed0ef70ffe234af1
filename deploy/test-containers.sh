#!/usr/bin/env bash
# CI's container test (root, podman, no registry): builds deploy/Dockerfile on a Debian 12 base bootstrapped
# here, runs a coordinator and 2 worker containers on a podman network with a `cert`-made certificate and a join
# token, and checks the run's final sha256 against the loopback in-process run with the same settings.
# Removes its containers, network and image afterwards and restores what netavark changes on the host
# (net.ipv4.ip_forward and the nftables tables/chains it adds). Fails loudly: any step that cannot be done
# is an error, never a skip.
#   deploy/test-containers.sh                 bootstrap the base with mmdebstrap (~1 min)
#   BASE_IMAGE=IMAGE deploy/test-containers.sh   use an existing glibc base instead
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# CleanRun's settings (Tests/Support/CleanRun.cs): 2 epochs of 30 steps, about 15 s of training here.
settings=(--epochs 2 --limit-train 3840 --limit-test 500 --micro-batch 32)
prefix="dp-ci-$$"
started=$SECONDS
say() { echo "[containers $((SECONDS - started))s] $*"; }
fail() { echo "error: containers: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "must run as root (podman networks and netavark need it)"
missing=()
for tool in podman mmdebstrap runc nft; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing podman mmdebstrap runc nftables"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman mmdebstrap runc nftables >/dev/null \
    || fail "apt-get install podman mmdebstrap runc nftables failed"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/$prefix.XXXXXX")"
# crun cannot handle this kind of host's mixed cgroup layout, and root lacks CAP_SYS_RESOURCE for podman's
# default open-files limit (FACTS.md): runc and explicit ulimits.
cat >"$work/containers.conf" <<'EOF'
[engine]
runtime = "runc"
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]
EOF
export CONTAINERS_CONF="$work/containers.conf"

image="localhost/$prefix:latest"
network="$prefix-net"
forward_before="$(sysctl -n net.ipv4.ip_forward)"
tables_before="$(nft list tables 2>/dev/null || true)"
base_created=""
cleanup() {
  local status=$?
  set +e
  podman rm -f -t 0 "$prefix-coordinator" "$prefix-worker-1" "$prefix-worker-2" >/dev/null 2>&1
  podman network rm -f "$network" >/dev/null 2>&1
  podman rmi -f "$image" >/dev/null 2>&1
  [ -n "$base_created" ] && podman rmi -f "$base_created" >/dev/null 2>&1
  [ "$(sysctl -n net.ipv4.ip_forward)" = "$forward_before" ] || { sysctl -qw net.ipv4.ip_forward="$forward_before"; echo "[containers] net.ipv4.ip_forward back to $forward_before"; }
  # Tables netavark created go whole; in tables that were there before, only its own chains.
  while read -r family table; do
    [ -z "$table" ] && continue
    if ! grep -qx "table $family $table" <<<"$tables_before"; then
      nft delete table "$family" "$table" && echo "[containers] removed nft table $family $table (netavark's)"
    else
      for chain in $(nft list table "$family" "$table" | awk '$1 == "chain" && $2 ~ /^NETAVARK/ {print $2}'); do
        nft flush chain "$family" "$table" "$chain"
      done
      for chain in $(nft list table "$family" "$table" | awk '$1 == "chain" && $2 ~ /^NETAVARK/ {print $2}'); do
        nft delete chain "$family" "$table" "$chain" 2>/dev/null && echo "[containers] removed nft chain $family $table $chain (netavark's)"
      done
    fi
  done < <(nft list tables 2>/dev/null | awk '{print $2, $3}')
  rm -rf "$work"
  [ $status -eq 0 ] || echo "error: containers: failed after $((SECONDS - started))s (exit $status)" >&2
  exit $status
}
trap cleanup EXIT

[ -f "$root/data/mnist/train-images-idx3-ubyte" ] || [ -f "$root/data/mnist/train-images-idx3-ubyte.gz" ] \
  || fail "$root/data/mnist: no MNIST (run deploy/get-mnist.sh first)"

base="${BASE_IMAGE:-}"
if [ -z "$base" ]; then
  say "bootstrapping a Debian 12 base with mmdebstrap"
  # libssl3 (via ca-certificates' openssl) is what .NET's TLS needs; libgomp1 and libstdc++6 are libtorch's.
  mmdebstrap --quiet --variant=minbase --include=libstdc++6,libgomp1,libicu72,ca-certificates bookworm "$work/rootfs.tar" \
    || fail "mmdebstrap bookworm failed (is the Debian mirror reachable?)"
  base="localhost/$prefix-base:12"
  podman import -q "$work/rootfs.tar" "$base" >/dev/null || fail "podman import of the Debian base failed"
  base_created="$base"
  rm -f "$work/rootfs.tar"
fi

say "publishing and building $image on $base"
# The host runs the same published programs for the reference run and the certificate.
app="$work/app"
PUBLISH_DIR="$app" BASE_IMAGE="$base" CONTAINER_ENGINE=podman "$root/deploy/build-image.sh" "$image" >"$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log" >&2; fail "image build failed"; }

say "reference run on loopback (--in-process --workers 2)"
"$app/Coordinator" train --in-process --workers 2 --threads-per-worker 1 "${settings[@]}" \
  --data "$root/data/mnist" --out "$work/reference" >"$work/reference.log" 2>&1 \
  || { tail -20 "$work/reference.log" >&2; fail "the loopback reference run failed"; }
expected="$(sed -n 's/.*Final parameters: sha256 \([0-9a-f]\{64\}\).*/\1/p' "$work/reference.log")"
[ -n "$expected" ] || fail "no 'Final parameters' line in the reference run"

say "certificate and token"
mkdir -p "$work/secrets" "$work/runs"
"$app/Coordinator" cert "$work/secrets/cluster.pfx" >/dev/null
token="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
# The containers run as uid 10001 (the Dockerfile's APP_UID): give it the secret and the run directory.
chown -R 10001:10001 "$work/secrets" "$work/runs"

printf '%s' "$token" >"$work/secrets/token"
chown 10001:10001 "$work/secrets/token"
podman network create "$network" >/dev/null
secrets=(-v "$work/secrets:/run/secrets:ro")
say "coordinator and 2 workers on $network"
podman run -d --name "$prefix-coordinator" --network "$network" --network-alias coordinator "${secrets[@]}" \
  -e DATAPARALLEL_TOKEN="$token" -v "$root/data/mnist:/data/mnist:ro" -v "$work/runs:/runs" "$image" \
  coordinator train --external --workers 2 --host 0.0.0.0 --public-host coordinator --port 4053 \
  --tls-certificate /run/secrets/cluster.pfx "${settings[@]}" --out /runs/run >/dev/null
# worker-1 as on bare hosts: token in the environment, its own name advertised.
podman run -d --name "$prefix-worker-1" --network "$network" --network-alias worker-1 "${secrets[@]}" \
  -e DATAPARALLEL_TOKEN="$token" "$image" \
  worker --seed coordinator:4053 --host 0.0.0.0 --public-host worker-1 --port 4054 --threads 1 --id worker-1 \
  --rejoin-timeout 30 --tls-certificate /run/secrets/cluster.pfx >/dev/null
# worker-2 as compose.yaml runs its replicas: token from a secret file, its own IP advertised by the entrypoint.
podman run -d --name "$prefix-worker-2" --network "$network" "${secrets[@]}" \
  -e DATAPARALLEL_TOKEN_FILE=/run/secrets/token -e DATAPARALLEL_ADVERTISE_IP=1 "$image" \
  worker --seed coordinator:4053 --host 0.0.0.0 --port 4054 --threads 1 --id worker-2 \
  --rejoin-timeout 30 --tls-certificate /run/secrets/cluster.pfx >/dev/null

code="$(podman wait "$prefix-coordinator")"
podman logs "$prefix-coordinator" >"$work/coordinator.log" 2>&1
if [ "$code" != 0 ]; then
  cat "$work/coordinator.log" >&2
  for i in 1 2; do echo "--- worker-$i" >&2; podman logs "$prefix-worker-$i" 2>&1 | tail -20 >&2; done
  fail "the coordinator container exited $code"
fi
actual="$(sed -n 's/.*Final parameters: sha256 \([0-9a-f]\{64\}\).*/\1/p' "$work/coordinator.log")"
[ "$actual" = "$expected" ] || { cat "$work/coordinator.log" >&2; fail "sha256 $actual in containers, $expected on loopback"; }
[ -f "$work/runs/run/workers.csv" ] || fail "the run directory on the volume has no workers.csv"
for i in 1 2; do
  grep -q "worker-$i" "$work/runs/run/workers.csv" || fail "worker-$i did not take part (workers.csv)"
  # Workers leave when the coordinator finishes; each must exit on its own.
  wcode="$(podman wait "$prefix-worker-$i")"
  [ "$wcode" = 0 ] || { podman logs "$prefix-worker-$i" >&2; fail "worker-$i exited $wcode"; }
  # The step's tensors travelled on its data channel to coordinator:4054, not through Akka.Remote.
  podman logs "$prefix-worker-$i" >"$work/worker-$i.log" 2>&1
  if grep -q "no data channel" "$work/worker-$i.log"; then cat "$work/worker-$i.log" >&2; fail "worker-$i could not open its data channel"; fi
done
grep -q "data channel listening at 0.0.0.0:4054 (TLS" "$work/coordinator.log" || { cat "$work/coordinator.log" >&2; fail "no data port 4054"; }
say "ok: sha256 $actual in containers equals the loopback run's; whole container step took $((SECONDS - started))s"
