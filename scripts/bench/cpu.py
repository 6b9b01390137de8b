"""Python baseline for the whole-worker CPU cost: the same work as worker-cpu (crates/bench) on the
same object in moto: GetObject streamed into csv.DictReader, the same mapping, records-table items
with boto3's TypeSerializer, batch_write_item of 25 with IN_FLIGHT requests in flight (a thread pool,
as the engine's writers) to the same ddb-latency endpoint. Prints the CPU seconds of this process
(getrusage: user + system, every thread) per row.
Usage: cpu.py ENDPOINT BUCKET KEY ROWS [IN_FLIGHT, default 8]   (AWS_ENDPOINT_URL set to moto)"""
import json, resource, sys, time
from datetime import datetime, timezone
import boto3
from boto3.dynamodb.types import TypeSerializer
import baseline, ddb

BATCH = 25
endpoint, bucket, key, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
in_flight = int(sys.argv[5]) if len(sys.argv) > 5 else 8
s3, dynamodb = boto3.client("s3"), ddb.client(endpoint, in_flight)

def usage():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime, u.ru_stime

def sync():
    """One import of the object; returns the rows written."""
    head = s3.head_object(Bucket=bucket, Key=key)
    imported_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    builder = ddb.ItemBuilder(TypeSerializer(), "benchcpupython", "payment", key, head["ETag"], imported_at)
    body = s3.get_object(Bucket=bucket, Key=key, IfMatch=head["ETag"])["Body"]
    written = ddb.import_object(dynamodb, builder, body, baseline.map_row, in_flight)
    return written

before_items = ddb.endpoint_stats(endpoint)["items"]
(user0, sys0), start = usage(), time.perf_counter()
written = sync()
wall = time.perf_counter() - start
user1, sys1 = usage()
received = ddb.endpoint_stats(endpoint)["items"] - before_items
assert written == rows == received, (written, rows, received)
cpu = (user1 - user0) + (sys1 - sys0)
print(json.dumps({"rows": written, "in_flight": in_flight, "wall_seconds": wall, "user_seconds": user1 - user0,
                  "system_seconds": sys1 - sys0, "cpu_seconds": cpu, "rows_per_cpu_second": written / cpu,
                  "cpu_microseconds_per_row": cpu * 1e6 / written}))
