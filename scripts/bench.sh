#!/usr/bin/env bash
# Measures and writes BENCHMARKS.md. Sections (every one by default; BENCH_ONLY=writes,cpu runs some):
#  parse   parse -> validate -> map throughput, one core, 1M generated rows (criterion), CSV and JSON
#          Lines, beside the same work in Python (csv.DictReader / json.loads + the same mapping),
#          also with boto3's TypeSerializer on each mapped row;
#  memory  peak RSS of a whole sync (s3-connector sync, release build), writes to moto included, of a
#          500 MB and a 5 GB object served by s3-model (crates/bench), beside the same in Python;
#  fanout  the dispatcher's fan-out over 10,000 active connections (release build under cargo lambda watch);
#  writes  write pipelining: the records writer with 8/16/32 BatchWriteItems in flight against a local
#          endpoint answering after 10 ms (crates/bench: ddb-latency, write-pipeline), beside boto3
#          with as many threads; and a whole sync (object from moto) against the same endpoint;
#  cpu     whole-worker CPU cost: the engine reading a CSV object from moto and writing through the
#          records writer to that endpoint (crates/bench: worker-cpu), CPU seconds per row, beside the
#          same work in Python;
#  readahead  one GetObject stream against ranged GETs fetched ahead (crates/bench: read-ahead), on
#          s3-model with S3's first-byte latency and 80 or 25 MB/s per connection;
#  listing peak memory of a sync listing 10,000 to 1,000,000 objects of which 300 are new
#          (crates/bench: listing-memory), beside the same listing kept in Python;
#  compression  decode -> parse -> validate -> map, one core, of the parse section's 1M-row CSV
#          compressed with zstd -3 and bzip2 -9 beside gzip -6 (the baseline) and uncompressed
#          (criterion), with each one's size;
#  events  event-driven imports on moto (crates/bench: events-latency): PutObject to records through
#          the object events and the intake, p50/p95/max over BENCH_EVENTS_OBJECTS objects put one
#          every 100 ms (and 50 ms) with the CLI's batching window (1 s, 100), and with the deployed
#          default (template.yaml: 30 s, 1000); and the AWS requests per imported object, beside a
#          scheduled scan of the same objects in a folder holding only them and in one also holding
#          BENCH_EVENTS_OLD_OBJECTS older objects. About 3 minutes.
#  parquet the Parquet read (pipeline::parquet::read: footer, row groups by ranged reads, decode,
#          map), one core, of the parse section's 1M rows as a snappy Parquet file read from memory
#          (criterion), beside pyarrow reading the same file and Python mapping its rows
#          (scripts/bench/parquet.py, pyarrow installed into .venv); and the peak RSS of a whole sync
#          (s3-connector sync, release build, writes to moto) of a BENCH_PARQUET_MB Parquet object of
#          50 KB rows, once per row-group size in BENCH_PARQUET_GROUP_ROWS and with the records handed
#          to the writers 1,000 (the default) and 25 at a time, served from disk by s3-model (the files
#          written once into target/bench-parquet by crates/bench's parquet-file).
# Each section saves its figures in target/bench-results/SECTION.json; BENCHMARKS.md is written from
# every saved section, so a partial run keeps the other sections' last figures.
# Usage: scripts/bench.sh [object sizes in MB, default "500 5000"] [connections, default 10000]
# Environment: BENCH_ONLY, BENCH_WRITE_ROWS (100000), BENCH_WRITE_LATENCY_MS (10), BENCH_CPU_ROWS
# (200000), BENCH_CPU_LATENCY_MS (1), BENCH_CPU_REPEAT (3), BENCH_EVENTS_OBJECTS (200),
# BENCH_EVENTS_OLD_OBJECTS (10000), BENCH_PARQUET_MB (2000), BENCH_PARQUET_GROUP_ROWS ("1000 2500").
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES_MB=${1:-500 5000}
CONNECTIONS=${2:-10000}
SECTIONS="parse compression memory fanout writes cpu readahead listing events parquet"
WRITE_ROWS=${BENCH_WRITE_ROWS:-100000}
WRITE_LATENCY_MS=${BENCH_WRITE_LATENCY_MS:-10}
CPU_ROWS=${BENCH_CPU_ROWS:-200000}
CPU_LATENCY_MS=${BENCH_CPU_LATENCY_MS:-1}
CPU_REPEAT=${BENCH_CPU_REPEAT:-3}
EVENTS_OBJECTS=${BENCH_EVENTS_OBJECTS:-200}
EVENTS_OLD_OBJECTS=${BENCH_EVENTS_OLD_OBJECTS:-10000}
PARQUET_MB=${BENCH_PARQUET_MB:-2000}
PARQUET_GROUP_ROWS=${BENCH_PARQUET_GROUP_ROWS:-1000 2500}
# pyarrow for the parquet section's Python baseline, in the project's .venv beside moto.
PYARROW_VERSION=26.0.1
RESULTS=target/bench-results
# The allocator settings of the deployed functions (template.yaml, Globals), for every Rust process
# measured here.
export MIMALLOC_ARENA_EAGER_COMMIT=0 MIMALLOC_PURGE_DELAY=0
source scripts/local-aws.sh
local_aws_install
mkdir -p "$RESULTS" "$ROOT/.local"

BENCH_ONLY=${BENCH_ONLY:-}
for s in ${BENCH_ONLY//,/ }; do
  [[ " $SECTIONS " == *" $s "* ]] || { echo "BENCH_ONLY: unknown section '$s' (sections: $SECTIONS)" >&2; exit 2; }
done
want() { [ -z "$BENCH_ONLY" ] || [[ ",$BENCH_ONLY," == *",$1,"* ]]; }

# save SECTION NAME=JSON... : writes target/bench-results/SECTION.json with the date and each value
# (one JSON document; NAME[]=... for JSON lines, kept as a list).
save() {
  "$VENV/bin/python" - "$RESULTS/$1.json" "${@:2}" <<'PY'
import datetime, json, sys
out = {"measured": datetime.date.today().isoformat()}
for arg in sys.argv[2:]:
    name, _, value = arg.partition("=")
    if name.endswith("[]"):
        out[name[:-2]] = [json.loads(line) for line in value.splitlines() if line.strip()]
    else:
        out[name] = json.loads(value)
with open(sys.argv[1], "w") as f:
    json.dump(out, f, indent=1)
PY
}

# The fixed-latency BatchWriteItem endpoint (crates/bench/src/bin/ddb-latency.rs), for the writes and
# cpu sections only: DDB_ENDPOINT is its URL until ddb_latency_stop.
DDB_PID=
ddb_latency_start() {
  local out="$ROOT/.local/ddb-latency.url"
  rm -f "$out"
  target/release/ddb-latency --latency-ms "$1" > "$out" 2> "$ROOT/.local/ddb-latency.log" &
  DDB_PID=$!
  for _ in $(seq 1 100); do [ -s "$out" ] && break; sleep 0.1; done
  DDB_ENDPOINT=$(head -1 "$out")
  [ -n "$DDB_ENDPOINT" ] || { echo "ddb-latency did not start; see .local/ddb-latency.log" >&2; return 1; }
  echo "ddb-latency on $DDB_ENDPOINT, answering after $1 ms (pid $DDB_PID)" >&2
}
ddb_latency_stop() {
  if [ -n "$DDB_PID" ]; then
    kill "$DDB_PID" 2>/dev/null || true
    wait "$DDB_PID" 2>/dev/null || true
    DDB_PID=
  fi
}
cleanup() { ddb_latency_stop; local_aws_stop; }
# The one-minute load average before a section: its figures are only as good as the machine is quiet.
load_average() { cut -d' ' -f1 /proc/loadavg; }
trap cleanup EXIT
if want memory || want fanout || want writes || want cpu || want events || want parquet; then
  if want fanout; then lambda_tools_install; fi
  local_aws_start
  trap cleanup EXIT # local_aws_start sets its own
fi

if want parse; then
  echo "== criterion: parse -> validate -> map" >&2
  cargo bench -p connector-core --bench pipeline >&2
  estimate() { "$VENV/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))['mean']['point_estimate'])" "target/criterion/parse_validate_map/$1/new/estimates.json"; }
  CSV_NS=$(estimate csv)
  JSONL_NS=$(estimate json_lines)
  echo "== python baseline" >&2
  BASELINE=$("$VENV/bin/python" scripts/bench/baseline.py 1000000)
  save parse "csv_ns=$CSV_NS" "jsonl_ns=$JSONL_NS" "python[]=$BASELINE"
fi

if want compression; then
  echo "== criterion: decode -> parse -> validate -> map of gzip, zstd and bzip2" >&2
  cargo bench -p connector-core --bench pipeline -- decode_parse_map >&2
  mean() { "$VENV/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))['mean']['point_estimate'])" "target/criterion/decode_parse_map/$1/new/estimates.json"; }
  save compression "none_ns=$(mean none)" "gzip_ns=$(mean gzip)" "zstd_ns=$(mean zstd)" "bzip2_ns=$(mean bzip2)" \
    "sizes=$(cat target/criterion/decode_parse_map/sizes.json)" "load=$(load_average)"
fi

if want memory || want fanout || want parquet; then
  # Two builds: built together, the product's binaries would share bench's connector-core, which
  # has the test-support feature (its in-memory store); measured, they are built as deployed.
  cargo build --release --quiet -p s3-connector -p worker -p dispatcher
  cargo build --release --quiet -p bench
fi
if want memory; then
  echo "== peak memory of a sync of objects of $SIZES_MB MB" >&2
  # shellcheck disable=SC2086 # one argument per size
  save memory "results[]=$("$VENV/bin/python" scripts/bench/memory.py target/release/s3-connector $SIZES_MB)"
fi
if want fanout; then
  echo "== dispatcher fan-out over $CONNECTIONS connections" >&2
  save fanout "result=$("$VENV/bin/python" scripts/bench/fanout.py "$CONNECTIONS" target/release/s3-connector)"
fi

if want cpu; then
  # The same bench with glibc's allocator, to show what the worker's mimalloc saves.
  cargo build --release --quiet -p bench --features system-allocator
  cp target/release/worker-cpu target/release/worker-cpu-system
fi
if want writes || want cpu || want readahead || want listing || want events || want parquet; then
  cargo build --release --quiet -p bench
fi

if want readahead; then
  echo "== one stream against ranged GETs fetched ahead" >&2
  RUNS=
  for MBPS in 80 25; do
    target/release/s3-model --rows 2000000 --mb-per-second "$MBPS" --ttfb-ms 20 > "$ROOT/.local/s3-model.out" 2> "$ROOT/.local/s3-model.log" &
    MODEL_PID=$!
    for _ in $(seq 1 100); do [ "$(wc -l < "$ROOT/.local/s3-model.out")" -ge 2 ] && break; sleep 0.1; done
    MODEL=$(head -1 "$ROOT/.local/s3-model.out"); MODEL_SIZE=$(sed -n 2p "$ROOT/.local/s3-model.out")
    for IN_FLIGHT in 1 2 4 8; do
      RUN=$(target/release/read-ahead --endpoint "$MODEL" --size "$MODEL_SIZE" --chunk-mib 4 --in-flight "$IN_FLIGHT")
      RUNS="$RUNS$("$VENV/bin/python" -c 'import json,sys; d=json.loads(sys.argv[1]); d["connection_mb_per_second"]=float(sys.argv[2]); print(json.dumps(d))' "$RUN" "$MBPS")
"
    done
    kill "$MODEL_PID"; wait "$MODEL_PID" 2>/dev/null || true
  done
  save readahead "runs[]=$RUNS" "load=$(load_average)"
fi

if want listing; then
  echo "== memory of a sync listing a large bucket" >&2
  RUST='' PYTHON=''
  for OBJECTS in 10000 100000 1000000; do
    RUST="$RUST$(target/release/listing-memory --objects "$OBJECTS" --new 300)
"
    PYTHON="$PYTHON$("$VENV/bin/python" scripts/bench/listing.py "$OBJECTS" 300)
"
  done
  save listing "rust[]=$RUST" "python[]=$PYTHON"
fi

if want events; then
  echo "== event-driven imports: PutObject to records, and AWS requests per object against a scan" >&2
  LOAD=$(load_average)
  # One line each (the last on stdout: the intake writes its metrics documents there first).
  events_latency() { target/release/events-latency --objects "$EVENTS_OBJECTS" "$@" | tail -n 1; }
  # Steady uploads, one every 100 ms, then one every 50 ms, with the CLI's batching window (the
  # defaults of s3-connector intake); then with the deployed default (template.yaml's
  # EventsBatchingWindowSeconds and EventsBatchSize). Then the same objects imported by a scan.
  CLI_WINDOW=$(events_latency --path events --interval-ms 100 --window-seconds 1 --batch-size 100)
  CLI_WINDOW_FAST=$(events_latency --path events --interval-ms 50 --window-seconds 1 --batch-size 100)
  DEPLOYED_WINDOW=$(events_latency --path events --interval-ms 100 --window-seconds 30 --batch-size 1000)
  SCAN=$(events_latency --path scan)
  SCAN_LARGE=$(events_latency --path scan --old-objects "$EVENTS_OLD_OBJECTS")
  save events "runs[]=$CLI_WINDOW
$CLI_WINDOW_FAST
$DEPLOYED_WINDOW
$SCAN
$SCAN_LARGE" "load=$LOAD"
fi

if want writes; then
  echo "== write pipelining: $WRITE_ROWS rows, ${WRITE_LATENCY_MS} ms a BatchWriteItem" >&2
  LOAD=$(load_average)
  ddb_latency_start "$WRITE_LATENCY_MS"
  RUST=$(target/release/write-pipeline --endpoint "$DDB_ENDPOINT" --rows "$WRITE_ROWS" --in-flight 8,16,32)
  LEVELS=$("$VENV/bin/python" -c 'import json,sys; print(",".join(str(json.loads(l)["in_flight"]) for l in sys.stdin))' <<< "$RUST")
  echo "== python baseline: boto3, $LEVELS threads" >&2
  PYTHON=$("$VENV/bin/python" scripts/bench/writes.py "$DDB_ENDPOINT" "$WRITE_ROWS" "$LEVELS")
  echo "== the whole engine against the same endpoint (object from moto)" >&2
  ENGINE=$(target/release/worker-cpu --endpoint "$DDB_ENDPOINT" --rows "$WRITE_ROWS")
  ENGINE=${ENGINE%%$'\n'*} # the sync into the records table; the second line is the counting sink's
  ddb_latency_stop
  save writes "rows=$WRITE_ROWS" "latency_ms=$WRITE_LATENCY_MS" "rust[]=$RUST" "python[]=$PYTHON" "engine=$ENGINE" "load=$LOAD"
fi

if want cpu; then
  echo "== whole-worker CPU: $CPU_ROWS rows from moto, ${CPU_LATENCY_MS} ms a BatchWriteItem" >&2
  LOAD=$(load_average)
  ddb_latency_start "$CPU_LATENCY_MS"
  cpu_run() { "$@" --endpoint "$DDB_ENDPOINT" --rows "$CPU_ROWS" --repeat "$CPU_REPEAT"; }
  SHIPPED=$(cpu_run target/release/worker-cpu)
  RUNS="$SHIPPED
$(cpu_run target/release/worker-cpu --runtime multi-thread)
$(cpu_run target/release/worker-cpu-system)
$(cpu_run target/release/worker-cpu-system --runtime multi-thread)"
  read -r BUCKET KEY < <("$VENV/bin/python" -c 'import json,sys; d=json.loads(sys.stdin.readline()); print(d["bucket"], d["key"])' <<< "$SHIPPED")
  echo "== python baseline: s3://$BUCKET/$KEY" >&2
  PYTHON=$("$VENV/bin/python" scripts/bench/cpu.py "$DDB_ENDPOINT" "$BUCKET" "$KEY" "$CPU_ROWS")
  ddb_latency_stop
  save cpu "rows=$CPU_ROWS" "latency_ms=$CPU_LATENCY_MS" "repeat=$CPU_REPEAT" "runs[]=$RUNS" "python=$PYTHON" "load=$LOAD"
fi

if want parquet; then
  if [ "$("$VENV/bin/python" -c 'import pyarrow; print(pyarrow.__version__)' 2>/dev/null)" != "$PYARROW_VERSION" ]; then
    echo "installing pyarrow==$PYARROW_VERSION into .venv (once, a few seconds)" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "pyarrow==$PYARROW_VERSION"
  fi
  echo "== criterion: the Parquet read (footer, row groups, decode, map) of 1M rows" >&2
  LOAD=$(load_average)
  cargo bench -p connector-core --bench pipeline -- parquet_read >&2
  PARQUET_NS=$("$VENV/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))['mean']['point_estimate'])" target/criterion/parquet_read/snappy/new/estimates.json)
  echo "== python baseline: pyarrow" >&2
  PYARROW=$("$VENV/bin/python" scripts/bench/parquet.py target/criterion/parquet_read/payments.parquet 1000000)
  echo "== peak memory of a sync of a $PARQUET_MB MB Parquet object, row groups of $PARQUET_GROUP_ROWS rows" >&2
  MEMORY_LOAD=$(load_average)
  mkdir -p target/bench-parquet
  ROW_BYTES=50000
  FILES=()
  for GROUP_ROWS in $PARQUET_GROUP_ROWS; do
    FILE=target/bench-parquet/payments-${PARQUET_MB}mb-${GROUP_ROWS}rows.parquet
    # Written once (a minute or so), then served from disk by every run; its description beside it.
    if [ ! -s "$FILE.json" ] || [ ! -f "$FILE" ]; then
      echo "writing $FILE" >&2
      target/release/parquet-file --out "$FILE" --rows $((PARQUET_MB * 1000000 / ROW_BYTES)) \
        --row-bytes "$ROW_BYTES" --group-rows "$GROUP_ROWS" > "$FILE.json"
    fi
    FILES+=("$(cat "$FILE.json")")
  done
  SYNCS=$("$VENV/bin/python" scripts/bench/parquet_memory.py target/release/s3-connector "${FILES[@]}")
  save parquet "rust_ns=$PARQUET_NS" "python[]=$PYARROW" "load=$LOAD" "syncs[]=$SYNCS" "memory_load=$MEMORY_LOAD" \
    "file_bytes=$(stat -c %s target/criterion/parquet_read/payments.parquet)"
fi

CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
# Written beside, then moved: the writer reads the BENCHMARKS.md it replaces.
"$VENV/bin/python" - "$RESULTS" "$CPU" "$(nproc)" > "$RESULTS/BENCHMARKS.md" <<'PY'
import datetime, json, os, statistics, sys
results, cpu, cores = sys.argv[1:4]

def load(section):
    path = os.path.join(results, f"{section}.json")
    return json.load(open(path)) if os.path.exists(path) else None

# The sections of the BENCHMARKS.md this run replaces, by heading: a section whose figures are not
# saved here (target/ is not in git: a fresh clone has none) keeps its text and its date.
previous = {}
if os.path.exists("BENCHMARKS.md"):
    for part in open("BENCHMARKS.md").read().split("\n## ")[1:]:
        title, _, body = part.partition("\n")
        previous[title.strip()] = body.strip("\n") + "\n"
current = None

def heading(title):
    global current
    current = title
    print(f"## {title}\n")

def missing(section):
    kept = previous.get(current, "")
    if kept and not kept.startswith("Not measured yet"):
        return kept
    return f"Not measured yet: `BENCH_ONLY={section} scripts/bench.sh`.\n"

print(f"""# Benchmarks

Written by `scripts/bench.sh` on {datetime.date.today()}, on {cores} cores of {cpu or 'an unknown CPU'}.
Re-run it to refresh every figure below (`BENCH_ONLY=parse,memory,fanout,writes,cpu` picks sections; a
section not run keeps its last figures and its date); nothing here is edited by hand.
Every Rust process measured runs with the deployed functions' allocator settings (template.yaml,
Globals): mimalloc with `MIMALLOC_ARENA_EAGER_COMMIT=0 MIMALLOC_PURGE_DELAY=0`.
""")

heading("parse -> validate -> map, one core")
p = load("parse")
if p is None:
    print(missing("parse"))
else:
    rows = 1_000_000
    csv_rate = rows / (float(p["csv_ns"]) / 1e9)
    jsonl_rate = rows / (float(p["jsonl_ns"]) / 1e9)
    py = {b["name"]: b["rows_per_second"] for b in p["python"]}
    print(f"""Measured {p['measured']}. 1,000,000 generated payment rows, 7 columns (string, exact decimal, enum,
integer, boolean, RFC 3339 timestamp, string), decoded from memory, mapped to typed records, no writes.
Command: `cargo bench -p connector-core --bench pipeline` (criterion, mean of 10 samples).
The Python baseline does the same rows and mapping with the standard library
(`python scripts/bench/baseline.py 1000000`): `csv.DictReader` or `json.loads`, `Decimal`, `int`,
`datetime.fromisoformat`; and again with each mapped row serialised by boto3's `TypeSerializer` (the
timestamp as its RFC 3339 text), the part of a Python DynamoDB writer that the connector's mapping
replaces.

| format | s3-connector | Python | ratio | Python + TypeSerializer | ratio | target |
|---|---|---|---|---|---|---|""")
    for name, rate, key, target in [("CSV", csv_rate, "python_csv_dictreader", "≥ 1,500,000 rows/s"),
                                    ("JSON Lines", jsonl_rate, "python_json_loads", "≥ 700,000 rows/s")]:
        base, ser = py[key], py.get(key + "_serializer")
        ser_cells = f"{ser:,.0f} rows/s | {rate / ser:.1f}x" if ser else "- | -"
        print(f"| {name} | {rate:,.0f} rows/s | {base:,.0f} rows/s | {rate / base:.1f}x | {ser_cells} | {target} |")
    print()

heading("Compressed objects: gzip, zstd and bzip2, one core")
z = load("compression")
if z is None:
    print(missing("compression"))
else:
    rows = 1_000_000
    sizes = z["sizes"]
    rate = {name: rows / (float(z[f"{name}_ns"]) / 1e9) for name in ["none", "gzip", "zstd", "bzip2"]}
    print(f"""Measured {z['measured']} (load average {z['load']} at the start). The parse section's 1,000,000 CSV
rows ({sizes['none'] / 1e6:.1f} MB), compressed as each tool does by default (gzip -6, zstd -3, bzip2
-9), read from memory through the whole read chain: the compression detected by its magic bytes and
decoded, the text layer, the CSV parser and the mapper (`crates/core/benches/pipeline.rs`,
`decode_parse_map`, criterion, mean of 10 samples). gzip is the baseline, measured in the same run.

| object | size | of the CSV | rows/s | against gzip | decoded MB/s |
|---|---|---|---|---|---|""")
    for name, label in [("gzip", "gzip -6 (baseline)"), ("zstd", "zstd -3"), ("bzip2", "bzip2 -9"), ("none", "uncompressed")]:
        mb_s = sizes["none"] / 1e6 * rate[name] / rows
        print(f"| {label} | {sizes[name] / 1e6:.1f} MB | {sizes[name] / sizes['none']:.1%} | {rate[name]:,.0f} | {rate[name] / rate['gzip']:.2f}x | {mb_s:,.0f} |")
    print()

heading("Parquet objects: the read, one core, and the peak memory of a sync")
pq = load("parquet")
if pq is None:
    print(missing("parquet"))
else:
    rows = 1_000_000
    rust = rows / (float(pq["rust_ns"]) / 1e9)
    py = {d["name"]: d for d in pq["python"]}
    v = py["versions"]
    print(f"""Measured {pq['measured']} (load average {pq['load']} at the start). The parse section's 1,000,000 payment
rows as a Parquet file written by arrow-rs's `ArrowWriter` ({pq['file_bytes'] / 1e6:.1f} MB, snappy, row groups of 131,072
rows; typed columns: `amount` decimal(10, 2), `quantity` int64, `captured` boolean, `paid_at` a UTC
timestamp, the others strings), read from memory, one core each.

- s3-connector: `pipeline::parquet::read`, as the worker reads a Parquet object: the footer by a ranged
  read, then each row group's column chunks by ranged reads (an in-memory source; each range is copied
  out, as a GET's body arrives in a buffer of its own), decoded by arrow-rs's push decoder in batches of
  8,192 rows on a blocking thread, each cell turned into text and validated and mapped by the template's
  mapper into a record (`crates/core/benches/pipeline.rs`, `parquet_read`, criterion, mean of 10
  samples; a current-thread runtime with one blocking thread, which take turns: one core).
- Python: pyarrow {v['pyarrow']} (Python {v['python']}) reads the same file from memory on one thread
  (`pa.set_cpu_count(1)`, `iter_batches(batch_size=8192, use_threads=False)`): its decoding is C++; each
  batch becomes Python dicts (`to_pylist`, C++ making Python objects: `Decimal`, `datetime`), and each row
  is mapped in Python with `baseline.py`'s checks for typed values (required id, currency in its set,
  `Decimal`, `int`, a bool, the timestamp in UTC; the values arrive typed, so no text is parsed)
  (`python scripts/bench/parquet.py target/criterion/parquet_read/payments.parquet 1000000`, median of
  {py['pyarrow_decode_map']['runs']} runs, in the same run). pyarrow's decode alone (Arrow batches, no Python rows, nothing
  mapped) shows where its time goes.

| reader | what it does | rows/s | CPU s / wall s | s3-connector against it |
|---|---|---|---|---|""")
    print(f"| s3-connector | ranged reads, decode, cells to text, validate, map to records | {rust:,.0f} | - | - |")
    for name, label, what in [("pyarrow_decode_map", "pyarrow + Python mapping", "decode (C++), `to_pylist` (C++), map (Python)"),
                              ("pyarrow_decode", "pyarrow, decode only", "decode (C++) to Arrow batches; no rows, no mapping")]:
        d = py[name]
        print(f"| {label} | {what} | {d['rows_per_second']:,.0f} | {d['cpu_seconds'] / d['seconds']:.2f} | {rust / d['rows_per_second']:.1f}x |")
    syncs = pq.get("syncs", [])
    if syncs:
        first = syncs[0]
        print(f"""
Peak memory of a whole sync, measured {pq['measured']} (load average {pq['memory_load']} at its start):
`python scripts/bench/parquet_memory.py target/release/s3-connector FILE_JSON...` (moto started by
`scripts/bench.sh`): the release CLI's `sync`, the worker's code run in-process with the worker's
allocator and default limits, imports one Parquet object, written once by `target/release/parquet-file --out
FILE --rows {first['rows']} --row-bytes 50000 --group-rows N`: the payment columns above and a `note` column of
49,950 random letters a row (snappy cannot shrink them, so {first['rows']:,} rows make the object; no dictionary,
pages of about 1 MiB). `s3-model --file FILE --key payments.parquet` serves it from disk (ListObjectsV2,
ranged GETs with a 20 ms first byte, at most 1,000 MB/s a connection); STS and DynamoDB are moto's. The
template is the payment template as a Parquet template that also maps `note`, so every column is
fetched, decoded, mapped and written: each row is written to the records table in moto (about 50 KB an
item) and the count is checked. Peak RSS is the sync process's own (`os.wait4`'s ru_maxrss, in MiB). The
reader holds one row group's column chunks at a time, and refuses one of more than
`S3C_MAX_PARQUET_ROW_GROUP_BYTES`: 128 MiB here, twice the default (64 MiB, set from these figures),
so that larger row groups are measured too; the worker function has 512 MB (template.yaml's MemorySize, which
Lambda counts in MiB). Each file is synced twice: with the engine's default hand-over of records to the
writers (1,000 rows at a time, `S3C_HANDOFF_ROWS`), and 25 at a time (one BatchWriteItem), because a
hand-over counts rows, not bytes: at 50 KB a record, the records waiting for their writes are part of
the peak.

| object | rows imported | bytes fetched | rows per row group | row groups | largest row group, as stored | hand-over | wall time | peak RSS | of 512 MiB |
|---|---|---|---|---|---|---|---|---|---|""")
        for d in syncs:
            print(f"| {d['object_bytes'] / 1e9:,.2f} GB | {d['rows_imported']:,} | {d['counts']['bytes_read'] / 1e9:,.2f} GB | "
                  f"{d['group_rows']:,} | {d['row_groups']} | "
                  f"{d['largest_row_group_bytes'] / 2**20:.1f} MiB | {d.get('handoff_rows', 1000):,} rows | {d['seconds']:.1f} s | "
                  f"{d['peak_rss_mb']:.1f} MiB | {d['peak_rss_mb'] / 512:.0%} |")
        print("""
The wall times include moto taking the writes on the same two cores; they are not AWS's.""")
    print()

heading("Peak memory of a sync of one large object, writes included")
m = load("memory")
if m is None or "results" not in m:
    print(missing("memory"))
else:
    sizes = " ".join(str(d["object_bytes"] // 1_000_000) for d in m["results"])
    print(f"""Measured {m['measured']}. `python scripts/bench/memory.py target/release/s3-connector {sizes}` (moto started
by `scripts/bench.sh`): the release CLI's `sync`, the worker's code run in-process with the worker's
allocator, imports one CSV object of payment rows padded to 50,000 bytes by an unmapped column (so that
the number of DynamoDB writes stays within what moto takes), read with the worker's default ranged
GETs (4 MiB, 4 in flight), and writes every row to the records table in moto (the count is checked).
The object comes from `s3-model` (crates/bench: ListObjectsV2 and ranged GetObject with a 20 ms first
byte, rows generated as they are sent), because moto keeps objects in memory and reads a whole object
for each ranged GET; STS and DynamoDB are moto's. Peak RSS is the sync process's own (`os.wait4`).
The Python baseline does the same work in its own process: boto3's streamed GetObject into
`csv.DictReader`, the same mapping, `TypeSerializer` items, `batch_write_item` of 25 from 8 threads.

| object | rows imported | s3-connector: wall time | peak RSS | Python: wall time | peak RSS | target |
|---|---|---|---|---|---|---|""")
    for d in m["results"]:
        print(f"| {d['object_bytes'] / 1e9:,.1f} GB | {d['rows_imported']:,} | {d['seconds']:.1f} s | {d['peak_rss_mb']:.1f} MB | "
              f"{d['python_seconds']:.1f} s | {d['python_peak_rss_mb']:.1f} MB | < 64 MB |")
    print("""
The wall times include moto taking the writes on the same two cores; they are not AWS's.
""")

heading("Ranged GETs fetched ahead")
r = load("readahead")
if r is None:
    print(missing("readahead"))
else:
    first = r["runs"][0]
    print(f"""Measured {r['measured']}. `target/release/read-ahead --endpoint URL --size BYTES --chunk-mib 4 --in-flight N`,
one process per line: the product's S3 source (`S3Source::open`) reads one object of {first['rows']:,} payment rows
({first['object_bytes'] / 1e6:.0f} MB) from `s3-model` (20 ms to the first byte of every answer, then at most the
given bandwidth per connection), and the engine's chain (SyncIoBridge -> decode -> CSV parser -> mapper, on a
blocking thread) maps every row. One stream is one GetObject; the others are 4 MiB ranged GETs with N in
flight (the worker's default: 4). S3's single-connection throughput is commonly 50-90 MB/s; 25 MB/s stands
for a slower path (another region, a busy network). One-minute load average at the start: {r['load']:.2f}.

| bandwidth per connection | reading | rows/s | MB/s | vs one stream | peak RSS |
|---|---|---|---|---|---|""")
    base = {}
    for d in r["runs"]:
        mbps = d["connection_mb_per_second"]
        if d["in_flight"] == 1:
            base[mbps] = d["rows_per_second"]
        print(f"| {mbps:g} MB/s | {d['mode']} | {d['rows_per_second']:,.0f} | {d['mb_per_second']:.0f} | "
              f"{d['rows_per_second'] / base.get(mbps, d['rows_per_second']):.2f}x | {d['peak_rss_mb']:.1f} MB |")
    print("""
The parser and the model share this machine's two cores, so where the connection is fast the parser,
not the network, sets the rate.
""")

heading("Listing a large bucket")
l = load("listing")
if l is None:
    print(missing("listing"))
else:
    py = {d["objects"]: d for d in l["python"]}
    print(f"""Measured {l['measured']}. `target/release/listing-memory --objects N --new 300`, one process per size: the
real engine (default configuration: the folder's first level listed with a delimiter, then 8 of its 100
sub-folders at once, pages of 1,000, a ledger lookup per page) syncs a connection whose watermark is an
hour old over a generated bucket of N objects, all 30 days old but 300 that are 10 minutes old; the state is in
memory, the records counted. The bucket is an in-process source that makes each ListObjectsV2 page when
it is asked for, so nothing but the engine holds the listing; it measures the engine's memory and CPU,
not S3's listing speed (about 1,000 keys per request and tens of milliseconds per page: a million keys
over 8 prefixes at once is a minute or two). The Python baseline (`python scripts/bench/listing.py N 300`)
pages through the same generated listing, shaped as boto3's pages, keeping what is new.

| objects listed | new | pages | s3-connector: peak RSS | time | Python: peak RSS | time |
|---|---|---|---|---|---|---|""")
    for d in l["rust"]:
        p = py.get(d["objects"], {})
        print(f"| {d['objects_listed']:,} | {d['objects_selected']} | {d['pages']:,} | {d['peak_rss_mb']:.1f} MB | "
              f"{d['seconds']:.2f} s | {p.get('peak_rss_mb', 0):.1f} MB | {p.get('seconds', 0):.2f} s |")
    print()

heading("Dispatcher fan-out")
f = load("fanout")
if f is None:
    print(missing("fanout"))
else:
    d = f["result"]
    print(f"""Measured {f['measured']}. `python scripts/bench/fanout.py {d['connections']} target/release/s3-connector` under moto: {d['connections']:,} active
connections in the state table; the real dispatcher (release build) runs under `cargo lambda watch`,
gets `events/scheduled.json`, pages through the by-status index and invokes a `worker` function
registered in moto's Lambda API asynchronously (InvocationType Event, 64 in flight). moto accepts each
invocation with 202 as Lambda does. (`cargo lambda watch` itself runs an Event invocation to completion
before it answers, one instance per function, so it would time worker runs rather than the fan-out.)

| connections | invoked | failed | dispatcher invocation | invocations/s | Lambda timeout |
|---|---|---|---|---|---|
| {d['connections']:,} | {d['invoked']:,} | {d['failed']} | {d['seconds']:.1f} s | {d['invocations_per_second']:,.0f} | 900 s |

The rate is moto's: a Python client invoking one at a time against the same moto gets about the same
(about 7 ms an invocation), so the endpoint, not the dispatcher, sets this figure.
""")

heading("Write pipelining")
w = load("writes")
if w is None:
    print(missing("writes"))
else:
    lat = w["latency_ms"]
    py = {r["in_flight"]: r for r in w["python"]}
    print(f"""Measured {w['measured']}. The records writer (`RecordsTable`, the worker's `RecordSink`) through the
DynamoDB client the product builds (`Aws::dynamodb`: the SDK's default HTTP client, 8 attempts), driven
through the engine's own write path (`write_in_lanes`: one lane per request in flight, batches of 25), writes {w['rows']:,} mapped payment
rows to `ddb-latency`, a local endpoint that answers each BatchWriteItem `{{"UnprocessedItems":{{}}}}`
{lat:g} ms after its request arrives and counts the items (every row is checked to have arrived).
The ideal is in flight x 25 / {lat:g} ms. The Python baseline builds the same items with boto3's
`TypeSerializer` and calls `batch_write_item` from as many threads as requests in flight, one boto3
client with a connection per thread, against the same endpoint in the same run.
Commands (`scripts/bench.sh` starts the endpoint and passes its URL):
`target/release/ddb-latency --latency-ms {lat:g}`,
`target/release/write-pipeline --endpoint URL --rows {w['rows']} --in-flight 8,16,32`,
`python scripts/bench/writes.py URL {w['rows']} {','.join(str(r['in_flight']) for r in w['rust'])}`.

| in flight | ideal | s3-connector | of ideal | Python (boto3) | of ideal | ratio | target |
|---|---|---|---|---|---|---|---|""")
    for r in w["rust"]:
        b = py.get(r["in_flight"])
        pycells = f"{b['rows_per_second']:,.0f} rows/s | {b['percent_of_ideal']:.0f}% | {r['rows_per_second'] / b['rows_per_second']:.1f}x" if b else "- | - | -"
        print(f"| {r['in_flight']} | {r['ideal_rows_per_second']:,.0f} rows/s | {r['rows_per_second']:,.0f} rows/s | "
              f"{r['percent_of_ideal']:.1f}% | {pycells} | ≥ 90% of ideal |")
    e = w.get("engine")
    if e:
        ideal = e["write_concurrency"] * 25 / (e["latency_ms"] / 1e3)
        rate = e["rows"] / e["wall_seconds"]
        print(f"| {e['write_concurrency']}, the whole engine (below) | {ideal:,.0f} rows/s | {rate:,.0f} rows/s | "
              f"{100 * rate / ideal:.1f}% | - | - | - | ≥ 90% of ideal |")
        print(f"""
The last row is a whole sync of one connection (`target/release/worker-cpu --endpoint URL --rows
{e['rows']}`, its first line: the engine with its default configuration, its S3 source reading a
{e['object_bytes'] / 1e6:.1f} MB CSV object from moto, AssumeRole and listing included) against the same endpoint:
rows imported over the sync's wall time.""")
    print(f"""
Where a request's time goes (s3-connector, per BatchWriteItem, from `write-pipeline`'s own output):
the endpoint held it (from its request head to its answer), the writer's `put` took it (what the
caller saw), and a slot of the pipeline took it (wall time x in flight / requests). The difference
between the first two is the client's own work on the request (building the items, serialising,
signing, the HTTP exchange); what the endpoint adds beyond {lat:g} ms is its own.

| in flight | held by the endpoint | `put` | pipeline slot | client CPU per request | most held at once | new connections |
|---|---|---|---|---|---|---|""")
    for r in w["rust"]:
        print(f"| {r['in_flight']} | {r['held_ms']:.2f} ms | {r['put_ms']:.2f} ms | {r['slot_ms']:.2f} ms | "
              f"{r['client_cpu_seconds'] * 1e6 / r['requests']:.0f} µs | {r['endpoint_max_in_flight']} | {r['connections_opened']} |")
    if "load" in w:
        print(f"\nOne-minute load average of the machine when these measurements began: {w['load']:.2f} ({cores} cores).")
    print(f"""
"Most held at once" is the endpoint's high-water mark of requests waiting for their answer during the
measurement; "new connections" counts the connections that carried their first BatchWriteItem during
it (the pool was warmed with two batches per slot first, in both benches).
""")

heading("Whole-worker CPU cost")
c = load("cpu")
if c is None:
    print(missing("cpu"))
else:
    groups = {}
    for r in c["runs"]:
        groups.setdefault((r["allocator"], r["runtime"], r["sink"]), []).append(r)
    def median(allocator, runtime, sink):
        runs = groups.get((allocator, runtime, sink))
        return statistics.median(r["rows_per_cpu_second"] for r in runs) if runs else None
    first = c["runs"][0]
    py = c["python"]
    shipped = median("mimalloc", "current_thread", "records_table")
    load_note = (f" One-minute load average of the machine when these measurements began: {c['load']:.2f} "
                 f"({cores} cores)." if "load" in c else "")
    print(f"""Measured {c['measured']}. The real sync engine (`Engine::sync`, default configuration: {first['write_concurrency']} writes in flight)
with the real S3 source (AssumeRole, ListObjectsV2, GetObject from moto) and the records writer,
the state in memory (`MemoryStore`): one CSV object of {c['rows']:,} payment rows ({first['object_bytes'] / 1e6:.1f} MB), written
to `ddb-latency` answering after {c['latency_ms']:g} ms. The figure is the bench process's user + system CPU
seconds (getrusage, every thread) during the sync, over the rows; median of {c['repeat']} syncs. moto and
the endpoint run in their own processes and are not counted.
Command (with `AWS_ENDPOINT_URL` set to moto and the endpoint started as above):
`target/release/worker-cpu --endpoint URL --rows {c['rows']} --repeat {c['repeat']}`.
The Python baseline does the same work on the same object in the same run
(`python scripts/bench/cpu.py URL BUCKET KEY {c['rows']}`): `GetObject` streamed into `csv.DictReader`, the
same mapping, the same items with `TypeSerializer`, `batch_write_item` of 25 from 8 threads.

| | s3-connector | Python | ratio | target |
|---|---|---|---|---|
| rows per CPU-second | {shipped:,.0f} | {py['rows_per_cpu_second']:,.0f} | {shipped / py['rows_per_cpu_second']:.1f}x | ≥ 120,000 |
| CPU per row | {1e6 / shipped:.2f} µs | {py['cpu_microseconds_per_row']:.1f} µs | | ≤ 8.33 µs |

Where the CPU goes: the same sync into a sink that only counts (reading, decoding, parsing and mapping,
no writes), and both again with tokio's multi-thread runtime (`--runtime multi-thread`, one worker
thread per core; the worker runs the current-thread runtime) and with glibc's allocator
(`cargo build --release -p bench --features system-allocator`; the worker uses mimalloc). The endpoint is plain HTTP on loopback: the TLS of a real DynamoDB endpoint is not
in these figures.{load_note} Medians of rows per CPU-second:

| allocator | tokio runtime | whole sync | without the writes | the writes alone, per row |
|---|---|---|---|---|""")
    for allocator, runtime in [("mimalloc", "current_thread"), ("mimalloc", "multi_thread"),
                               ("system", "current_thread"), ("system", "multi_thread")]:
        whole, reads = median(allocator, runtime, "records_table"), median(allocator, runtime, "count_only")
        if whole is None or reads is None:
            continue
        label = " (as the worker ships)" if (allocator, runtime) == ("mimalloc", "current_thread") else ""
        print(f"| {allocator} | {runtime.replace('_', '-')}{label} | {whole:,.0f} | {reads:,.0f} | "
              f"{1e6 / whole - 1e6 / reads:.2f} µs |")
    print()

heading("Event-driven imports: PutObject to records, and AWS requests per object")
ev = load("events")
if ev is None or "runs" not in ev:
    print(missing("events"))
else:
    events_runs = [r for r in ev["runs"] if r["path"] == "events"]
    scans = [r for r in ev["runs"] if r["path"] == "scan"]
    first = events_runs[0]
    print(f"""Measured {ev['measured']}. `target/release/events-latency`, one process per line or column below, against
moto (started by `scripts/bench.sh`) on this machine's {cores} cores; one-minute load average at the start:
{ev['load']:.2f}.

An active events-mode connection's bucket sends its Object Created events as deployed: the bucket's
EventBridge switch on, a rule with the customer's pattern (`connector_core::policies::events_rule_pattern`)
whose target is an SQS queue. A thread of its own puts {first['objects']} CSV objects of {first['rows_per_object']} payment rows
({first['object_bytes']:,} bytes each) into the connection's folder at a steady rate and notes when each PutObject
returned. Meanwhile the intake's handler (`intake::handle`, on a current-thread runtime as the intake
function runs it) takes the batches of the event source mapping's emulation (`intake::poller`: long polls
of up to 10 messages; a batch ends at its size, or once the batching window has passed since its first
message; one batch at a time; the messages deleted after the handler answers). An object's latency runs
from its PutObject's return to the `finished_at` of its outcome in the ledger, which the engine stamps
once the object's records are written (one process, one clock). Windows: the defaults of
`s3-connector intake` (1 s, 100 messages), and the deployment's (template.yaml's
`EventsBatchingWindowSeconds` 30 and `EventsBatchSize` 1000, as README says).

| uploads | batching window | batch size | batches (largest) | p50 | p95 | max | from PutObject to its batch's hand-over, p50 | from its batch's hand-over to its records, p50 |
|---|---|---|---|---|---|---|---|---|""")
    def secs(ms):
        return f"{ms / 1000:.1f} s"
    for r in events_runs:
        l, w, i = r["latency_ms"], r["waited_for_batch_ms"], r["imported_after_batch_ms"]
        print(f"| {r['objects']}, one every {r['interval_ms']} ms | {r['window_seconds']} s | {r['batch_size']:,} | "
              f"{r['batches']} ({r['largest_batch']}) | {secs(l['p50'])} | {secs(l['p95'])} | {secs(l['max'])} | "
              f"{secs(w['p50'])} | {secs(i['p50'])} |")
    whole = max(events_runs, key=lambda r: r["largest_batch"])
    rate = whole["largest_batch"] / (whole["imported_after_batch_ms"]["max"] / 1000)
    fastest = max(1000 / r["interval_ms"] for r in events_runs)
    print(f"""
With the deployed window the window is the latency: the first event opens a batch that takes every
upload for {whole['window_seconds']} s. With 1 s the import's own time shows. A batch's run HEADs its keys, then imports
its objects one at a time, oldest first: here about {rate:.0f} objects/s (the batch of {whole['largest_batch']} took
{whole['imported_after_batch_ms']['max'] / 1000:.1f} s from its hand-over to its last object), moto sharing the two cores. At
{fastest:.0f} uploads/s, {'above' if fastest > rate else 'near'} that rate, each batch waits for the one before it, the batches grow, and the
latency with them. These are moto's times on this machine, not AWS's.
""")
    columns = [(f"events, {r['window_seconds']} s window, one upload every {r['interval_ms']} ms", r) for r in events_runs]
    columns += [(f"scan, {r['objects_listed']:,} objects in the folder", r) for r in scans]
    keys = sorted({(c["service"], c["operation"]) for _, r in columns for c in r["requests"]})
    def per_object(r, key):
        n = sum(c["requests"] for c in r["requests"] if (c["service"], c["operation"]) == key)
        return n / r["files_imported"]
    big = max(scans, key=lambda r: r["old_objects"]) if scans else None
    small = min(scans, key=lambda r: r["old_objects"]) if scans else None
    print(f"""AWS requests the connector's SDK clients sent per imported object, by service and operation, counted in
their HTTP path (`crates/bench/src/requests.rs`: a client wrapped around the SDK's own, set on the
`SdkConfig` the measured `Deployment` is built from, so that every client it builds is counted, the
assumed role's credential provider and retries included; `SdkConfig` takes no interceptor). The set-up is
not counted: buckets, tables, queue and rule, the PutObjects, the connection's creation, activation and
first scan. Events: everything the intake's handler did for the batches above. Scan: what the worker does
for the day's scheduled event (`Deployment::sync` for a schedule run, then `Deployment::next_run`) on a
scheduled connection whose last scan ran before the same {first['objects']} objects were put, in a folder holding only
them, and in one also holding {big['old_objects'] if big else 0:,} objects its earlier scans passed. For the latter the connection's
overlap is 0 hours: those objects were put seconds before its first scan (run with a one-second lookback,
so that it left them behind its watermark unread), and moto stamps an object with the time it is written,
so with the default 24-hour overlap they would be in the window; at 0 hours they stand for objects older
than a day, which a daily scan lists and does not read. The keys lie flat in the folder (pages of 1,000
keys); a folder of sub-folders takes at least one listing per sub-folder.

| service | operation | {' | '.join(name for name, _ in columns)} |
|---|---|{'---|' * len(columns)}""")
    for key in keys:
        cells = " | ".join((f"{per_object(r, key):.2f}" if per_object(r, key) else "-") for _, r in columns)
        print(f"| {key[0]} | {key[1]} | {cells} |")
    totals = [sum(c["requests"] for c in r["requests"]) / r["files_imported"] for _, r in columns]
    print(f"| **all** | | {' | '.join(f'**{t:.2f}**' for t in totals)} |")
    runs_cells = " | ".join(str(r.get("events_runs", 1)) for _, r in columns)
    print(f"| runs | | {runs_cells} |")
    errors = sum(c["errors"] for _, r in columns for c in r["requests"])
    error_note = ("No request was answered with an error." if errors == 0 else
                  f"{errors} requests in all were answered with an error (a HEAD of a missing key, a lost conditional write).")
    esm = "; ".join(
        f"{r['window_seconds']} s window, every {r['interval_ms']} ms: "
        + ", ".join(f"{c['requests'] / r['files_imported']:.2f} {c['operation']}" for c in r["esm_requests"])
        for r in events_runs)
    heads = per_object(first, ("s3", "HeadObject"))
    writes = per_object(first, ("dynamodb", "BatchWriteItem"))
    print(f"""
{error_note}

The event source mapping's emulation, counted apart, per object: {esm}. In AWS, Lambda's own pollers
make those SQS requests, in ways this emulation does not model; EventBridge's delivery to the queue is
not a request of ours.

What it says: a run of named keys costs, per object, {heads:.0f} HeadObject and {per_object(first, ('s3', 'GetObject')):.0f} GetObject, the records'
BatchWriteItems and 1 PutItem (its outcome); everything else is per run (AssumeRole twice; the
connection, its template, checkpoint, lease, kept keys and due rechecks, the run's record: GetItem,
Query, UpdateItem, PutItem; one ledger BatchGetItem per 100 keys; the run event), so per object it
shrinks as batches grow. The scan reads each new object without a HEAD, and adds its listing:
{per_object(small, ('s3', 'ListObjectsV2')) * small['files_imported']:.0f} ListObjectsV2 for {small['objects_listed']:,} objects in the folder, {per_object(big, ('s3', 'ListObjectsV2')) * big['files_imported']:.0f} for {big['objects_listed']:,}: the listing grows with
everything in the folder, every day, whether or not anything is new; the reads and writes grow only with
what is new. The BatchWriteItems ({writes:.0f} per object of {first['rows_per_object']} rows, on both paths) are the engine's write lanes:
it spreads a file's records over 8 lanes by record id and each lane writes what it holds at the file's
end, so a small file costs up to 8 BatchWriteItems of one or two items instead of one. DynamoDB bills
the items written, not the requests, but each request is a round trip of its own.
""" if small and big else "")
PY
mv "$RESULTS/BENCHMARKS.md" BENCHMARKS.md
cat BENCHMARKS.md
