#!/usr/bin/env bash
# The demo: starts local AWS (moto), seeds a customer's bucket with the example files, saves the
# templates, connects two folders, syncs them, and prints their status, files and a sample of records.
# Then "the next day": new files arrive, and the scheduled event runs the real dispatcher and worker
# Lambdas under cargo lambda watch, which sync every active connection. Last, the operator
# dashboard (the api function under the same cargo lambda watch, signing in against moto's
# Cognito): its address and a sign-in that works are printed.
#
# Usage: scripts/demo.sh [--serve]   (--serve: keep the dashboard up until Ctrl-C)
set -euo pipefail
SERVE=
[ "${1:-}" = "--serve" ] && SERVE=1
cd "$(dirname "$0")/.."
source scripts/local-aws.sh
lambda_tools_install
local_aws_start

echo "== building the CLI and the Lambda functions (the first time: several minutes; cargo's progress below)"
# `--bin` from the workspace's root, as cargo lambda watch builds each function (`cargo run --bin
# NAME`): the functions it serves later are already built, and start in seconds.
cargo build --bin s3-connector --bin worker --bin dispatcher --bin api
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

echo "== s3-connector init (tables, and the bucket rejected rows are handed back in); templates put"
export S3C_REJECTS_BUCKET=s3-connector-rejects
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
DASHBOARD="http://127.0.0.1:$PORT/lambda-url/api"
DEMO_USER=operator
DEMO_PASSWORD=Demo-Passw0rd-1
# The dashboard's sign-in: a Cognito user pool on moto with an app client and one operator, and
# the deployment's signing key in Secrets Manager (template.yaml creates both when deployed).
"$VENV/bin/python" - "$DEMO_USER" "$DEMO_PASSWORD" > .local/dashboard.env <<'PY'
import sys, base64, os, boto3
user, password = sys.argv[1], sys.argv[2]
idp = boto3.client("cognito-idp")
pool = idp.create_user_pool(PoolName="s3-connector-operators")["UserPool"]["Id"]
client = idp.create_user_pool_client(UserPoolId=pool, ClientName="dashboard",
    ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
idp.admin_create_user(UserPoolId=pool, Username=user)
idp.admin_set_user_password(UserPoolId=pool, Username=user, Password=password, Permanent=True)
secret = boto3.client("secretsmanager").create_secret(Name="s3-connector-signing-key",
    SecretString=base64.b64encode(os.urandom(32)).decode())["ARN"]
endpoint = os.environ["AWS_ENDPOINT_URL"]
print(f"S3C_DASHBOARD_ISSUER=https://cognito-idp.us-east-1.amazonaws.com/{pool}")
print(f"S3C_DASHBOARD_CLIENT_ID={client}")
print(f"S3C_DASHBOARD_DISCOVERY_URL={endpoint}/{pool}/.well-known/openid-configuration")
print(f"S3C_SIGNING_SECRET_ARN={secret}")
PY
DASHBOARD_ENV=()
while read -r line; do DASHBOARD_ENV+=(--env-var "$line"); done < .local/dashboard.env
echo "== cargo lambda watch on 127.0.0.1:$PORT: the dispatcher, worker and api Lambdas, against moto (log: $WATCH_LOG)"
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$PORT" \
  --env-var S3C_WORKER_FUNCTION=worker "${DASHBOARD_ENV[@]}" --env-var S3C_DASHBOARD_URL="$DASHBOARD" \
  --env-var S3C_REJECTS_BUCKET="$S3C_REJECTS_BUCKET" \
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

# "The next day": events/scheduled.json with its time a day from now, when the connections' daily
# scans are due again (the dispatcher decides what is due at the event's time).
"$VENV/bin/python" - > .local/scheduled-next-day.json <<'PY'
import datetime, json
event = json.load(open("events/scheduled.json"))
tomorrow = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
event["time"] = tomorrow.strftime("%Y-%m-%dT%H:%M:%SZ")
print(json.dumps(event))
PY
echo "-- cargo lambda invoke dispatcher: events/scheduled.json, the hourly EventBridge event, as it comes"
echo "   a day later, when the daily scans are due (the first invocation of each function starts it,"
echo "   and compiles it if it changed)"
while_showing_progress cargo lambda invoke dispatcher --invoke-address 127.0.0.1 --invoke-port "$PORT" \
  --data-file .local/scheduled-next-day.json
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
cargo lambda invoke dispatcher --invoke-address 127.0.0.1 --invoke-port "$PORT" --data-file .local/scheduled-next-day.json
echo

echo
echo "== events mode: '${IDS[0]}' imports a new file within seconds of its event, without a scan"
echo "-- the bucket's EventBridge switch, the forwarding rule (bucket, folder) and the deployment's"
echo "   bus, rule and queue (template.yaml's ObjectEventBus, ObjectEventRule, ObjectEventQueue)"
QUEUE=$("$VENV/bin/python" - "$BUCKET" <<'PY'
import json, sys, boto3
bucket = sys.argv[1]
boto3.client("s3").put_bucket_notification_configuration(
    Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
sqs, events = boto3.client("sqs"), boto3.client("events")
url = sqs.create_queue(QueueName="s3c-object-events")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
events.create_event_bus(Name="s3c-object-events")
pattern = {"source": ["aws.s3"], "detail-type": ["Object Created"],
           "detail": {"bucket": {"name": [bucket]}, "object": {"key": [{"prefix": "exports/payments/"}]}}}
events.put_rule(Name="s3c-object-events", EventBusName="s3c-object-events", EventPattern=json.dumps(pattern))
events.put_targets(Rule="s3c-object-events", EventBusName="s3c-object-events", Targets=[{"Id": "queue", "Arn": arn}])
print(url)
PY
)
echo "-- s3-connector connections set-mode ${IDS[0]} events"
cli connections set-mode "${IDS[0]}" events
PUT_AT=$("$VENV/bin/python" - "$BUCKET" <<'PY'
import sys, time, boto3
boto3.client("s3").put_object(Bucket=sys.argv[1], Key="exports/payments/2026-11-06.csv",
                              Body=b"payment_id,amount,currency\npy_020,20.00,usd\n")
print(time.time())
PY
)
echo "   put s3://$BUCKET/exports/payments/2026-11-06.csv"
echo "-- s3-connector intake --queue-url $QUEUE --batching-window-seconds 2 --until-quiet-seconds 5"
echo "   (the intake function's event source mapping, in this process)"
cli intake --queue-url "$QUEUE" --batching-window-seconds 2 --until-quiet-seconds 5
cli connections show "${IDS[0]}" --json | "$VENV/bin/python" -c '
import json, sys, datetime
put_at = float(sys.argv[1])
runs = [r for r in json.load(sys.stdin)["recent_runs"] if r["path"] == "events"]
if not runs or runs[0]["counts"]["files_imported"] != 1:
    sys.exit("the events run did not import the new file: %s" % runs[:1])
done = datetime.datetime.fromisoformat(runs[0]["finished_at"].replace("Z", "+00:00")).timestamp()
print("   imported by a run of its event (path events, nothing listed) %.1f s after its PutObject" % (done - put_at))
' "$PUT_AT"
echo

echo
echo "== the operator dashboard: $DASHBOARD/dashboard/connections"
echo "-- signing in as $DEMO_USER, as a browser does (the api function starts on this first request)"
JAR=.local/dashboard-cookies.txt
rm -f "$JAR"
sign_in_form() {
  curl -s --max-time 900 -c "$JAR" "$DASHBOARD/dashboard/sign-in" > .local/sign-in.html
}
while_showing_progress sign_in_form
FORM=$("$VENV/bin/python" -c 'import re,sys; print(re.search(r"name=\"form\" value=\"([^\"]+)\"", open(".local/sign-in.html").read()).group(1))')
STATUS=$(curl -s -b "$JAR" -c "$JAR" -o /dev/null -w '%{http_code}' --data-urlencode "form=$FORM" \
  --data-urlencode "username=$DEMO_USER" --data-urlencode "password=$DEMO_PASSWORD" "$DASHBOARD/dashboard/sign-in")
if [ "$STATUS" = 303 ] && curl -s -b "$JAR" "$DASHBOARD/dashboard/connections" | grep -q "acme payments"; then
  echo "   signed in: the connections page lists both connections"
else
  echo "the dashboard's sign-in did not work (HTTP $STATUS); see $WATCH_LOG" >&2
  exit 1
fi
echo
echo "   Dashboard:  $DASHBOARD/dashboard/connections"
echo "   Sign in as: $DEMO_USER / $DEMO_PASSWORD"
if [ -n "$SERVE" ]; then
  echo "   (up until Ctrl-C; moto and cargo lambda watch stop with it)"
  wait "$WATCH_PID"
else
  echo "   (run scripts/demo.sh --serve to keep it up and open it in a browser)"
fi
