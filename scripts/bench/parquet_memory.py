"""Peak memory of a whole sync of one large Parquet object, writes included.

The release CLI's `sync` (the worker's code, run in-process) imports one Parquet file that s3-model
(crates/bench) serves from disk as S3 would (ListObjectsV2, ranged GetObject with a 20 ms first byte),
written by `parquet-file` (crates/bench): payment rows and a `note` column of random text that makes
each row about 50 KB, so that a 2 GB object is 40,000 rows, as many as moto takes as DynamoDB writes
in a few minutes. The template is the payment template (crates/bench/payment-template.json) as a
Parquet template that also maps `note`: every column of the file is fetched, decoded, mapped and
written. STS and DynamoDB are moto's (AWS_ENDPOINT_URL, started by scripts/bench.sh); every row is
written to the records table in moto and the count is checked, then the run's tables are deleted (moto
keeps items in memory). The figure is the sync process's own peak RSS (os.wait4's ru_maxrss), the
same as the memory section's.

Each file is synced twice: with the engine's default hand-over to the writers (batches of 1,000
records, S3C_HANDOFF_ROWS), and with batches of 25 (one BatchWriteItem), which shows how much of the
peak is records of 50 KB waiting for their writes rather than the Parquet read.

Usage: parquet_memory.py CLI FILE_JSON [FILE_JSON ...]   (FILE_JSON: parquet-file's line about a file;
prints one JSON line per file and hand-over)"""
import json, os, subprocess, sys, tempfile

import boto3

from memory import TEMPLATE_FILE, measured

KEY = "payments.parquet"
# S3C_HANDOFF_ROWS of each sync of a file: None is the engine's default (1,000).
HANDOFFS = [None, 25]
DEFAULT_HANDOFF = 1000

def template():
    t = json.load(open(TEMPLATE_FILE))
    t["id"] = t["id"] + "-parquet"
    t["format"] = {"type": "parquet"}
    t["columns"].append({"source": "note", "field": "note", "type": "string"})
    return t

def sync(cli, file, handoff):
    model_bin = os.path.join(os.path.dirname(cli), "s3-model")
    model = subprocess.Popen([model_bin, "--file", file["path"], "--key", KEY,
                              "--mb-per-second", "1000", "--ttfb-ms", "20"], stdout=subprocess.PIPE, text=True)
    try:
        endpoint, object_bytes = model.stdout.readline().strip(), int(model.stdout.readline())
        assert object_bytes == file["object_bytes"], (object_bytes, file)
        suffix = f"{os.getpid()}-parquet-{file['group_rows']}-{handoff or DEFAULT_HANDOFF}"
        # 128 MiB: past the default (64 MiB), so that row groups above it are measured too.
        env = dict(os.environ, AWS_ENDPOINT_URL_S3=endpoint, S3C_MAX_PARQUET_ROW_GROUP_BYTES=str(128 << 20),
                   S3C_STATE_TABLE=f"bench-state-{suffix}", S3C_RECORDS_TABLE=f"bench-records-{suffix}")
        env.pop("S3C_HANDOFF_ROWS", None)
        if handoff:
            env["S3C_HANDOFF_ROWS"] = str(handoff)
        run = lambda *args: subprocess.run([cli, *args], check=True, capture_output=True, text=True, env=env).stdout
        t = template()
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump(t, f)
            f.flush()
            run("init")
            run("templates", "put", f.name)
        try:
            conn = json.loads(run("connections", "create", "--tenant", "bench", "--name", f"bench {suffix}",
                                  "--account-id", "123456789012",
                                  "--bucket", "bench", "--region", "us-east-1", "--template", t["id"], "--json"))
            out, rss, wall = measured([cli, "sync", conn["connection"]["id"], "--json"], env)
            report = json.loads(out)
            counts = report["run"]["counts"]
            assert counts["rows_imported"] == file["rows"], (counts, file)
        finally:
            dynamodb = boto3.client("dynamodb", region_name="us-east-1")  # moto, from AWS_ENDPOINT_URL
            for table in (env["S3C_STATE_TABLE"], env["S3C_RECORDS_TABLE"]):
                dynamodb.delete_table(TableName=table)
        return {**file, "handoff_rows": handoff or DEFAULT_HANDOFF, "rows_imported": counts["rows_imported"],
                "seconds": wall, "peak_rss_mb": rss, "counts": counts}
    finally:
        model.kill()
        model.wait()

def main():
    cli = sys.argv[1]
    for arg in sys.argv[2:]:
        for handoff in HANDOFFS:
            print(json.dumps(sync(cli, json.loads(arg), handoff)), flush=True)

if __name__ == "__main__":
    main()
