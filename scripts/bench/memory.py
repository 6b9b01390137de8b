"""Peak memory of the worker (s3-connector sync, in-process) importing one large object from moto.

Generates a CSV of wide rows (a large unmapped column keeps the number of DynamoDB writes small
enough for moto), uploads it, syncs, checks every row landed, and prints the child's peak RSS."""
import json, os, resource, subprocess, sys, time
import boto3

size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 500
cli = sys.argv[2]
row_padding = 50_000
path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"s3c-bench-{size_mb}mb.csv")
rows = 0
with open(path, "w") as f:
    f.write("id,amount,padding\n")
    written = 0
    pad = "x" * row_padding
    while written < size_mb * 1024 * 1024:
        line = f"r{rows},{rows % 1000}.25,{pad}\n"
        f.write(line)
        written += len(line)
        rows += 1
size = os.path.getsize(path)

s3 = boto3.client("s3")
s3.create_bucket(Bucket="bench-big")
start = time.perf_counter()
s3.upload_file(path, "bench-big", "big/wide.csv")
os.remove(path)
print(f"uploaded {size} bytes, {rows} rows in {time.perf_counter() - start:.1f}s", file=sys.stderr)

template = {"id": "wide", "record_type": "wide", "format": {"type": "csv"},
            "columns": [{"source": "id", "field": "id", "type": "string", "required": True},
                        {"source": "amount", "field": "amount", "type": "decimal", "required": True}]}
with open("/tmp/s3c-bench-template.json", "w") as f:
    json.dump(template, f)
def run(*args):
    return subprocess.run([cli, *args], check=True, capture_output=True, text=True).stdout
run("init")
run("templates", "put", "/tmp/s3c-bench-template.json")
conn = json.loads(run("connections", "create", "--name", "bench", "--account-id", "123456789012",
                      "--bucket", "bench-big", "--region", "us-east-1", "--template", "wide", "--json"))
before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
start = time.perf_counter()
out = json.loads(run("sync", conn["id"], "--json"))
elapsed = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
counts = out["run"]["counts"]
assert counts["rows_imported"] == rows, (counts, rows)
print(json.dumps({"object_bytes": size, "rows": rows, "rows_imported": counts["rows_imported"],
                  "seconds": elapsed, "peak_rss_mb": peak_kb / 1024, "earlier_children_peak_mb": before / 1024}))
