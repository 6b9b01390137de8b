"""Peak memory of a whole sync of one large object, writes included, beside a Python baseline.

The release CLI's `sync` (the worker's code, run in-process) imports the object that s3-model
(crates/bench) serves as S3 would (ListObjectsV2, ranged GetObject, a first-byte latency): payment rows
padded to ROW_BYTES with an unmapped column, generated as they are sent. STS and DynamoDB are moto's
(AWS_ENDPOINT_URL, started by scripts/bench.sh); AWS_ENDPOINT_URL_S3 sends S3 to the model, because
moto keeps objects in memory and answers each ranged GET by reading the whole object. Every row is
written to the records table in moto, and the count is checked. The figure is the sync process's
own peak RSS (os.wait4's ru_maxrss).

The Python baseline does the same work in its own process: boto3 GetObject streamed into
csv.DictReader, the same mapping, TypeSerializer items, batch_write_item of 25 from 8 threads.

Usage: memory.py CLI SIZE_MB [SIZE_MB ...]   (prints one JSON line per size)
       memory.py --python-baseline MODEL_ENDPOINT TABLE ROWS   (the baseline's own process)"""
import json, os, subprocess, sys, tempfile, time
from datetime import datetime, timezone

ROW_BYTES = 50_000
HERE = os.path.dirname(os.path.abspath(__file__))
# The template every bench uses (also the Rust benches' own, by include_str!).
TEMPLATE_FILE = os.path.join(HERE, "..", "..", "crates", "bench", "payment-template.json")
TEMPLATE_ID = json.load(open(TEMPLATE_FILE))["id"]

def measured(args, env):
    """Runs a command; returns (its stdout, its own peak RSS in MiB, wall seconds)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen(args, stdout=out, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{args[:3]} failed ({status}): {text[-2000:]}")
    return text, usage.ru_maxrss / 1024, wall

def python_baseline(model, table, rows):
    import boto3
    from boto3.dynamodb.types import TypeSerializer
    sys.path.insert(0, HERE)
    import baseline, ddb
    ddb.TABLE = table
    s3 = boto3.client("s3", endpoint_url=model, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")  # moto, from AWS_ENDPOINT_URL
    head = s3.head_object(Bucket="bench", Key="payments.csv")
    imported_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    builder = ddb.ItemBuilder(TypeSerializer(), "python-baseline", "payment", "payments.csv", head["ETag"], imported_at)
    body = s3.get_object(Bucket="bench", Key="payments.csv", IfMatch=head["ETag"])["Body"]
    written = ddb.import_object(dynamodb, builder, body, baseline.map_row, 8)
    assert written == rows, (written, rows)
    print(json.dumps({"rows_written": written}))

def main():
    if sys.argv[1] == "--python-baseline":
        return python_baseline(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    cli, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]]
    model_bin = os.path.join(os.path.dirname(cli), "s3-model")
    for size_mb in sizes:
        rows = size_mb * 1_000_000 // ROW_BYTES
        model = subprocess.Popen([model_bin, "--rows", str(rows), "--row-bytes", str(ROW_BYTES),
                                  "--mb-per-second", "1000", "--ttfb-ms", "20"], stdout=subprocess.PIPE, text=True)
        try:
            endpoint, object_bytes = model.stdout.readline().strip(), int(model.stdout.readline())
            suffix = f"{os.getpid()}-{size_mb}"
            env = dict(os.environ, AWS_ENDPOINT_URL_S3=endpoint,
                       S3C_STATE_TABLE=f"bench-state-{suffix}", S3C_RECORDS_TABLE=f"bench-records-{suffix}")
            run = lambda *args: subprocess.run([cli, *args], check=True, capture_output=True, text=True, env=env).stdout
            run("init")
            run("templates", "put", TEMPLATE_FILE)
            conn = json.loads(run("connections", "create", "--tenant", "bench", "--name", f"bench {suffix}", "--account-id", "123456789012",
                                  "--bucket", "bench", "--region", "us-east-1", "--template", TEMPLATE_ID, "--json"))
            out, rss, wall = measured([cli, "sync", conn["connection"]["id"], "--json"], env)
            counts = json.loads(out)["run"]["counts"]
            assert counts["rows_imported"] == rows, (counts, rows)
            py_out, py_rss, py_wall = measured([sys.executable, os.path.abspath(__file__), "--python-baseline",
                                                endpoint, env["S3C_RECORDS_TABLE"], str(rows)], env)
            assert json.loads(py_out)["rows_written"] == rows
            print(json.dumps({"object_bytes": object_bytes, "rows": rows, "rows_imported": counts["rows_imported"],
                              "seconds": wall, "peak_rss_mb": rss,
                              "python_seconds": py_wall, "python_peak_rss_mb": py_rss}), flush=True)
        finally:
            model.kill()
            model.wait()

if __name__ == "__main__":
    main()
