#!/usr/bin/env bash
# The demo: starts local AWS (moto), seeds a customer's bucket with the example files, saves the
# templates, connects two folders, syncs them, and prints their status, files and a sample of records.
# Then "the next day": new files arrive, and the scheduled event runs the real dispatcher and worker
# Lambdas under cargo lambda watch, which sync every active connection.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/local-aws.sh
lambda_tools_install
local_aws_start

echo "== building the CLI and the Lambda functions (the first time: several minutes; cargo's progress below)"
# `--bin` from the workspace's root, as cargo lambda watch builds each function (`cargo run --bin
# NAME`): the functions it serves later are already built, and start in seconds.
cargo build --bin s3-connector --bin worker --bin dispatcher
TARGET=$(cargo_target_dir)
cli() { "$TARGET/debug/s3-connector" "$@"; }
BUCKET=acme-exports

echo "== the customer's bucket s3://$BUCKET, seeded with examples/data"
"$VENV/bin/python" - "$BUCKET" <<'PY'
import sys, pathlib, boto3
bucket = sys.argv[1]
s3 = boto3.client("s3")
s3.create_bucket(Bucket=bucket)
for path in sorted(pathlib.Path("examples/data").rglob("*")):
    if path.is_file():
        key = "exports/" + str(path.relative_to("examples/data"))
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        print(f"  s3://{bucket}/{key}")
s3.put_object(Bucket=bucket, Key="exports/payments/", Body=b"")
s3.put_object(Bucket=bucket, Key="elsewhere/not-ours.csv", Body=b"payment_id,amount\nx,1\n")
PY

echo "== s3-connector init; templates put"
cli init
for t in examples/templates/*.json; do cli templates put "$t"; done

IDS=()
for spec in "acme payments:exports/payments:payments:exports/payments/2026-11-01.csv" \
            "acme customers:exports/customers:customers:exports/customers/customers.jsonl"; do
  IFS=: read -r name folder template sample <<< "$spec"
  echo
  echo "== connecting '$name': s3://$BUCKET/$folder with template $template, as the dashboard does"
  echo "-- s3-connector connections create --tenant acme --name '$name' ... (prints the role and its two policies to create)"
  cli connections create --tenant acme --name "$name" --account-id 123456789012 --bucket "$BUCKET" --region us-east-1 \
    --folder "$folder" --template "$template" --json > .local/created.json
  id=$("$VENV/bin/python" -c 'import json; print(json.load(open(".local/created.json"))["connection"]["id"])')
  IDS+=("$id")
  "$VENV/bin/python" -c 'import json; c = json.load(open(".local/created.json")); print("  role:", c["role_arn"]); print("  permission policy:", json.dumps(c["permission_policy"]))'
  echo "-- s3-connector connections preview $id --sample $sample"
  cli connections preview "$id" --sample "$sample"
  echo "-- s3-connector connections activate $id (checks access, runs the first import)"
  cli connections activate "$id"
  echo "-- s3-connector connections show $id"
  cli connections show "$id"
  echo "-- s3-connector files $id"
  cli files "$id"
  echo "-- s3-connector records $id --limit 2"
  cli records "$id" --limit 2
  echo "-- s3-connector sync $id (again: nothing new, nothing written)"
  cli sync "$id"
done

echo
echo "== the next day: new files arrive"
"$VENV/bin/python" - "$BUCKET" <<'PY'
import sys, boto3
s3 = boto3.client("s3")
s3.put_object(Bucket=sys.argv[1], Key="exports/payments/2026-11-05.csv",
              Body=b"payment_id,amount,currency\npy_010,10.00,usd\npy_011,11.00,eur\n")
s3.put_object(Bucket=sys.argv[1], Key="exports/customers/customers-2.jsonl",
              Body=b'{"id": "cus_9", "email": "new@example.com", "plan": "free"}\n')
print("  s3://%s/exports/payments/2026-11-05.csv\n  s3://%s/exports/customers/customers-2.jsonl" % (sys.argv[1], sys.argv[1]))
PY

PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
WATCH_LOG=.local/cargo-lambda-watch.log
echo "== cargo lambda watch on 127.0.0.1:$PORT: the dispatcher and worker Lambdas, against moto (log: $WATCH_LOG)"
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$PORT" \
  --env-var S3C_WORKER_FUNCTION=worker \
  --env-var AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL" --env-var AWS_ENDPOINT_URL_LAMBDA="http://127.0.0.1:$PORT" \
  --env-var AWS_ACCESS_KEY_ID=testing --env-var AWS_SECRET_ACCESS_KEY=testing --env-var AWS_REGION=us-east-1 \
  > "$WATCH_LOG" 2>&1 &
WATCH_PID=$!
trap 'kill $WATCH_PID 2>/dev/null; wait $WATCH_PID 2>/dev/null; local_aws_stop' EXIT

# What cargo lambda watch is doing (compiling, starting a function, its logs): the last line of its
# log, when it changed, so that a wait is never silent.
SHOWN=
watch_progress() {
  local line
  line=$(tail -n 1 "$WATCH_LOG" 2>/dev/null | cut -c1-150)
  if [ -n "$line" ] && [ "$line" != "$SHOWN" ]; then
    echo "   [$WATCH_LOG] $line"
    SHOWN=$line
  fi
}
# Runs a command in the background and shows watch_progress every 5 s until it ends; its status.
while_showing_progress() {
  "$@" &
  local pid=$! ticks=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    ticks=$((ticks + 1))
    if [ $((ticks % 5)) -eq 0 ]; then watch_progress; fi
  done
  wait "$pid"
}

for _ in $(seq 1 100); do
  curl -s "http://127.0.0.1:$PORT" > /dev/null 2>&1 && break
  sleep 0.2
  watch_progress
done
curl -s "http://127.0.0.1:$PORT" > /dev/null 2>&1 || { echo "cargo lambda watch did not start; see $WATCH_LOG" >&2; exit 1; }

echo "-- cargo lambda invoke dispatcher --data-file events/scheduled.json (the daily EventBridge event;"
echo "   the first invocation of each function starts it, and compiles it if it changed)"
while_showing_progress cargo lambda invoke dispatcher --invoke-address 127.0.0.1 --invoke-port "$PORT" \
  --data-file events/scheduled.json
echo
echo "-- waiting for the workers (asynchronous invocations of the worker function)"
for id in "${IDS[@]}"; do
  done_=
  for i in $(seq 1 600); do
    if cli connections show "$id" --json | "$VENV/bin/python" -c 'import json,sys; s=json.load(sys.stdin)["connection"]["sync"]; sys.exit(0 if s.get("last_schedule_run") else 1)'; then
      done_=1
      break
    fi
    sleep 0.5
    if [ $((i % 10)) -eq 0 ]; then watch_progress; fi
  done
  [ -n "$done_" ] || echo "   the worker for $id did not finish in 5 minutes; see $WATCH_LOG" >&2
  echo "-- s3-connector connections show $id"
  cli connections show "$id"
done
echo "-- the same scheduled event delivered again: nothing is synced twice"
cargo lambda invoke dispatcher --invoke-address 127.0.0.1 --invoke-port "$PORT" --data-file events/scheduled.json
echo
