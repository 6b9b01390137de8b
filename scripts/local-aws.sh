# Local AWS for the demo and the tests: moto server from the project's own virtualenv, on a free
# loopback port. Source this file, then call local_aws_start; it stops when the shell exits.
# See ../shared/LOCAL_AWS.md for what works here.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
MOTO_VERSION="5.2.5"

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

# AWS SAM CLI, in a virtualenv of its own (its dependencies pin differently from moto's).
sam_install() {
  if [ ! -x "$ROOT/.venv-sam/bin/sam" ]; then
    echo "installing aws-sam-cli into .venv-sam (once, about 90 s)" >&2
    python3 -m venv "$ROOT/.venv-sam"
    "$ROOT/.venv-sam/bin/pip" install --quiet --disable-pip-version-check aws-sam-cli
  fi
  export SAM_CLI_TELEMETRY=0
}

# moto server with DynamoDB's conditional writes atomic, as in AWS (scripts/moto_server.py).
moto_server_run() {
  "$VENV/bin/python" "$ROOT/scripts/moto_server.py" "$@"
}

local_aws_start() {
  local_aws_install
  local port
  port=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$ROOT/.local"
  moto_server_run -H 127.0.0.1 -p "$port" > "$ROOT/.local/moto.log" 2>&1 &
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

local_aws_stop() {
  if [ -n "${MOTO_PID:-}" ]; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=
  fi
}
