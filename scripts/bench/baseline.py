"""Python baseline for parse -> validate -> map: csv.DictReader / json.loads and the same mapping as
the criterion bench (crates/core/benches/pipeline.rs), on the same generated rows; then the same again
with each mapped row serialised by boto3's TypeSerializer, as a DynamoDB writer in Python would.
Prints one JSON line (rows/s) per measurement. Usage: baseline.py [ROWS, default 1000000]

Importable: writes.py and cpu.py share its rows and mapping."""
import csv, io, json, sys, time
from datetime import datetime
from decimal import Decimal

HEADER = "id,amount,currency,quantity,captured,paid_at,customer"

def row(i):
    return (f"py_{i:08}", f"{i % 10_000}.{i % 100:02}", ["usd", "eur", "gbp"][i % 3], i % 17,
            "true" if i % 2 == 0 else "false",
            f"2026-11-{1 + i % 28:02}T{i % 24:02}:{i % 60:02}:{(i // 60) % 60:02}Z", f"cus_{i % 50_000}")

def csv_input(rows):
    out = io.StringIO()
    out.write(HEADER + "\n")
    for i in range(rows):
        out.write(",".join(str(v) for v in row(i)) + "\n")
    return out.getvalue()

def jsonl_input(rows):
    lines = []
    for i in range(rows):
        id_, amount, currency, quantity, captured, paid_at, customer = row(i)
        lines.append(f'{{"id":"{id_}","amount":{amount},"currency":"{currency}","quantity":{quantity},'
                     f'"captured":{captured},"paid_at":"{paid_at}","customer":"{customer}"}}')
    return "\n".join(lines) + "\n"

CURRENCIES = {"usd", "eur", "gbp"}
BOOLS = {"true": True, "t": True, "yes": True, "y": True, "1": True,
         "false": False, "f": False, "no": False, "n": False, "0": False}

def map_row(r):
    if not r.get("id"):
        raise ValueError("id required")
    currency = r.get("currency")
    if currency not in CURRENCIES:
        raise ValueError("currency")
    return {
        "payment_id": r["id"],
        "amount": Decimal(str(r["amount"])),
        "currency": currency,
        "quantity": int(r["quantity"]),
        "captured": BOOLS[str(r["captured"]).lower()],
        "paid_at": datetime.fromisoformat(r["paid_at"].replace("Z", "+00:00")),
        "customer": r["customer"],
    }

def storable(mapped):
    """The mapped row as DynamoDB takes it: a timestamp is stored as its RFC 3339 text (as the
    connector stores it); TypeSerializer has no datetime."""
    return dict(mapped, paid_at=mapped["paid_at"].isoformat().replace("+00:00", "Z"))

def measure(name, rows, rows_iter_factory, per_row):
    start = time.perf_counter()
    n = 0
    for r in rows_iter_factory():
        per_row(r)
        n += 1
    elapsed = time.perf_counter() - start
    assert n == rows
    print(json.dumps({"name": name, "rows": n, "seconds": elapsed, "rows_per_second": n / elapsed}), flush=True)

def main():
    from boto3.dynamodb.types import TypeSerializer
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    serialize = TypeSerializer().serialize
    with_serializer = lambda r: serialize(storable(map_row(r)))
    text = csv_input(rows)
    measure("python_csv_dictreader", rows, lambda: csv.DictReader(io.StringIO(text)), map_row)
    measure("python_csv_dictreader_serializer", rows, lambda: csv.DictReader(io.StringIO(text)), with_serializer)
    text = jsonl_input(rows)
    lines = lambda: (json.loads(line) for line in io.StringIO(text))
    measure("python_json_loads", rows, lines, map_row)
    measure("python_json_loads_serializer", rows, lines, with_serializer)

if __name__ == "__main__":
    main()
