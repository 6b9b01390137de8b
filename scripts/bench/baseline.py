"""Python baseline for parse -> validate -> map: csv.DictReader / json.loads and the same mapping as
the criterion bench (crates/core/benches/pipeline.rs), on the same generated rows. Prints rows/s."""
import csv, io, json, sys, time
from datetime import datetime
from decimal import Decimal

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000

def row(i):
    return (f"py_{i:08}", f"{i % 10_000}.{i % 100:02}", ["usd", "eur", "gbp"][i % 3], i % 17,
            "true" if i % 2 == 0 else "false",
            f"2026-11-{1 + i % 28:02}T{i % 24:02}:{i % 60:02}:{(i // 60) % 60:02}Z", f"cus_{i % 50_000}")

def csv_input():
    out = io.StringIO()
    out.write("id,amount,currency,quantity,captured,paid_at,customer\n")
    for i in range(ROWS):
        out.write(",".join(str(v) for v in row(i)) + "\n")
    return out.getvalue()

def jsonl_input():
    lines = []
    for i in range(ROWS):
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

def measure(name, rows_iter_factory):
    start = time.perf_counter()
    n = 0
    for r in rows_iter_factory():
        map_row(r)
        n += 1
    elapsed = time.perf_counter() - start
    assert n == ROWS
    print(json.dumps({"name": name, "rows": n, "seconds": elapsed, "rows_per_second": n / elapsed}))

text = csv_input()
measure("python_csv_dictreader", lambda: csv.DictReader(io.StringIO(text)))
text = jsonl_input()
measure("python_json_loads", lambda: (json.loads(line) for line in io.StringIO(text)))
