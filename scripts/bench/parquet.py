"""Python baseline for the Parquet read (crates/core/benches/pipeline.rs, `parquet_read`): pyarrow
reads the same file from memory on one thread, batch by batch; each batch becomes Python rows
(`RecordBatch.to_pylist`, pyarrow's C++) and each row is mapped in Python with the checks of
baseline.map_row, for the typed values a Parquet file holds. Also pyarrow's decode alone (Arrow
batches, no Python rows), to show where the time goes.

Prints one JSON line per measurement: the median of REPEAT runs (rows/s over wall time; CPU seconds
too, which would exceed the wall time if pyarrow used more than one thread).
Usage: parquet.py FILE ROWS [REPEAT, default 3]"""
import json, statistics, sys, time
from datetime import timezone
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from baseline import CURRENCIES

# As the Rust read: one core, batches of 8,192 rows (pipeline/parquet.rs, BATCH_ROWS).
BATCH_ROWS = 8192

def map_row(r):
    """baseline.map_row for the values pyarrow gives a typed file's columns (str, Decimal, int, bool,
    datetime): the same required id, currency enum, decimal, integer and boolean, and the timestamp in
    UTC; no text to parse."""
    if not r.get("id"):
        raise ValueError("id required")
    currency = r.get("currency")
    if currency not in CURRENCIES:
        raise ValueError("currency")
    captured = r["captured"]
    if not isinstance(captured, bool):
        raise ValueError("captured")
    return {
        "payment_id": r["id"],
        "amount": Decimal(r["amount"]),
        "currency": currency,
        "quantity": int(r["quantity"]),
        "captured": captured,
        "paid_at": r["paid_at"].astimezone(timezone.utc),
        "customer": r["customer"],
    }

def batches(data):
    return pq.ParquetFile(pa.BufferReader(data)).iter_batches(batch_size=BATCH_ROWS, use_threads=False)

def decode_only(data):
    return sum(batch.num_rows for batch in batches(data))

def decode_and_map(data):
    n = 0
    for batch in batches(data):
        for r in batch.to_pylist():
            map_row(r)
            n += 1
    return n

def measure(name, rows, repeat, run, data):
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        n = run(data)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        assert n == rows, (n, rows)
    seconds = statistics.median(walls)
    print(json.dumps({"name": name, "rows": rows, "runs": repeat, "seconds": seconds,
                      "cpu_seconds": statistics.median(cpus), "rows_per_second": rows / seconds}), flush=True)

def main():
    path, rows = sys.argv[1], int(sys.argv[2])
    repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    with open(path, "rb") as f:
        data = f.read()
    measure("pyarrow_decode", rows, repeat, decode_only, data)
    measure("pyarrow_decode_map", rows, repeat, decode_and_map, data)
    print(json.dumps({"name": "versions", "pyarrow": pa.__version__, "python": sys.version.split()[0],
                      "file_bytes": len(data)}), flush=True)

if __name__ == "__main__":
    main()
