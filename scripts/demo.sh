#!/usr/bin/env bash
# The demo: starts local AWS (moto), seeds a customer's bucket with the example files, saves the
# templates, connects two folders, syncs them, and prints their status, files and a sample of records.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/local-aws.sh
local_aws_start

echo "== building the CLI"
cargo build --quiet -p s3-connector
cli() { target/debug/s3-connector "$@"; }
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

connect() {
  cli connections create --name "$1" --account-id 123456789012 --bucket "$BUCKET" --region us-east-1 \
    --folder "$2" --template "$3" --json | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
for spec in "acme payments:exports/payments:payments" "acme customers:exports/customers:customers"; do
  IFS=: read -r name folder template <<< "$spec"
  id=$(connect "$name" "$folder" "$template")
  echo
  echo "== connection '$name' ($id): s3://$BUCKET/$folder with template $template"
  echo "-- s3-connector sync $id"
  cli sync "$id"
  echo "-- s3-connector connections show $id"
  cli connections show "$id"
  echo "-- s3-connector files $id"
  cli files "$id"
  echo "-- s3-connector records $id --limit 2"
  cli records "$id" --limit 2
  echo "-- s3-connector sync $id (again: nothing new, nothing written)"
  cli sync "$id"
done
