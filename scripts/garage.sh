#!/usr/bin/env bash
# Starts a single-node Garage (a real S3-compatible server) on loopback for the
# object-store tests, installing it first if needed. Idempotent: a running,
# configured node is left as it is. Prints `export` lines for the tests on stdout
# (use: eval "$(scripts/garage.sh)"); progress goes to stderr.
set -euo pipefail

GARAGE_VERSION=2.5.0
STATE=${PITCHGRADE_GARAGE_DIR:-$HOME/.cache/pitchgrade-garage}
S3_PORT=${PITCHGRADE_GARAGE_S3_PORT:-3900}
RPC_PORT=${PITCHGRADE_GARAGE_RPC_PORT:-3901}
ADMIN_PORT=${PITCHGRADE_GARAGE_ADMIN_PORT:-3903}
BUCKET=pitchgrade-test
# Fixed test-only credentials: this node listens on 127.0.0.1 and holds test data.
KEY_ID=GK0123456789abcdef01234567
KEY_SECRET=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
RPC_SECRET=4f1b6c0e8a9d2e3f5a7b9c1d3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3b5c7d9e1f

log() { echo "garage.sh: $*" >&2; }

GARAGE=$(command -v garage || true)
[ -n "$GARAGE" ] || GARAGE="$HOME/.cargo/bin/garage"
if ! "$GARAGE" --version 2>/dev/null | grep -q "$GARAGE_VERSION"; then
  log "installing garage $GARAGE_VERSION (cargo install, about 12 minutes once)"
  # Its own target dir: garage's dependencies must not churn the project's.
  CARGO_TARGET_DIR="$HOME/.cache/garage-install-target" \
    cargo install --locked garage --version "$GARAGE_VERSION" >&2
  GARAGE="$HOME/.cargo/bin/garage"
fi

mkdir -p "$STATE/meta" "$STATE/data"
CONFIG="$STATE/garage.toml"
cat > "$CONFIG" <<TOML
metadata_dir = "$STATE/meta"
data_dir = "$STATE/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"
rpc_secret = "$RPC_SECRET"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$ADMIN_PORT"
TOML

g() { "$GARAGE" -c "$CONFIG" "$@"; }

if ! g status >/dev/null 2>&1; then
  log "starting garage (log: $STATE/garage.log)"
  nohup "$GARAGE" -c "$CONFIG" server > "$STATE/garage.log" 2>&1 &
  for _ in $(seq 1 60); do
    g status >/dev/null 2>&1 && break
    sleep 0.5
  done
  g status >/dev/null 2>&1 || { log "garage did not start; see $STATE/garage.log"; exit 1; }
fi

if g status 2>/dev/null | grep -q "NO ROLE ASSIGNED"; then
  NODE=$(g node id -q | cut -c1-16)
  log "assigning layout to node $NODE"
  g layout assign -z dc1 -c 1G "$NODE" >&2
  g layout apply --version 1 >&2
fi

if ! g key info "$KEY_ID" >/dev/null 2>&1; then
  g key import --yes -n pitchgrade-test "$KEY_ID" "$KEY_SECRET" >&2
fi
if ! g bucket info "$BUCKET" >/dev/null 2>&1; then
  g bucket create "$BUCKET" >&2
fi
g bucket allow --read --write --owner "$BUCKET" --key "$KEY_ID" >/dev/null

cat <<ENV
export AWS_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
export AWS_REGION=garage
export AWS_ACCESS_KEY_ID=$KEY_ID
export AWS_SECRET_ACCESS_KEY=$KEY_SECRET
export AWS_S3_FORCE_PATH_STYLE=true
export PITCHGRADE_TEST_S3_BUCKET=$BUCKET
ENV
