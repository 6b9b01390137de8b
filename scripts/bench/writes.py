"""Python baseline for write pipelining: the same rows as write-pipeline (crates/bench), mapped before
the clock starts; then, timed, each batch of 25 built as records-table items with boto3's
TypeSerializer and written with batch_write_item, by IN_FLIGHT threads (so that many requests are in
flight) sharing one boto3 client, against the same ddb-latency endpoint.
Prints one JSON line per level. Usage: writes.py ENDPOINT ROWS IN_FLIGHT[,IN_FLIGHT...]"""
import csv, io, json, resource, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from boto3.dynamodb.types import TypeSerializer
import baseline, ddb

BATCH = 25
endpoint, rows = sys.argv[1], int(sys.argv[2])
levels = sorted({int(n) for n in sys.argv[3].split(",")})
mapped = [baseline.map_row(r) for r in csv.DictReader(io.StringIO(baseline.csv_input(rows)))]

def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

def write_all(client, first, last, in_flight):
    """Rows [first, last) in batches of 25, `in_flight` threads each writing one batch at a time."""
    batches = iter(range(first, last, BATCH))
    lock = threading.Lock()
    builder = ddb.ItemBuilder(TypeSerializer(), "benchwrites", "payment", "bench/payments.csv", '"bench"',
                              "2026-11-25T00:00:00.000Z")
    def writer():
        written = 0
        while True:
            with lock:
                start = next(batches, None)
            if start is None:
                return written
            end = min(start + BATCH, last)
            ddb.write_batch(client, [builder.put_request(i + 1, mapped[i]) for i in range(start, end)])
            written += end - start
    with ThreadPoolExecutor(in_flight) as pool:
        return sum(f.result() for f in [pool.submit(writer) for _ in range(in_flight)])

for in_flight in levels:
    client = ddb.client(endpoint, in_flight)
    write_all(client, 0, min(rows, in_flight * 2 * BATCH), in_flight)  # warm the pool, as the Rust bench does
    before = ddb.endpoint_stats(endpoint, reset=True)
    cpu, start = cpu_seconds(), time.perf_counter()
    written = write_all(client, 0, rows, in_flight)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    after = ddb.endpoint_stats(endpoint)
    assert written == rows == after["items"] - before["items"], (written, rows, after, before)
    ideal = in_flight * BATCH / (after["latency_ms"] / 1e3)
    print(json.dumps({"in_flight": in_flight, "rows": written, "seconds": seconds, "rows_per_second": written / seconds,
                      "latency_ms": after["latency_ms"], "ideal_rows_per_second": ideal,
                      "percent_of_ideal": 100 * written / seconds / ideal, "cpu_seconds": cpu,
                      "endpoint_max_in_flight": after["max_in_flight"]}), flush=True)
