"""DynamoDB for the Python baselines (writes.py, cpu.py, memory.py): a records-table item built as the connector's
writer builds it (crates/aws/src/records.rs: pk = connection # FNV-1a shard of the record id, sk =
record id, the source's key, ETag and row, the import time, the mapped fields as a map) and serialised
with boto3's TypeSerializer; a client for the latency endpoint (ddb-latency) and its statistics."""
import csv, io, json, threading, urllib.request
from concurrent.futures import ThreadPoolExecutor
import boto3
from botocore.config import Config
from baseline import storable

SHARDS = 64
TABLE = "bench-records"

def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h

def partition_key(connection_id, record_id):
    return f"{connection_id}#{fnv1a64(record_id.encode()) % SHARDS:02x}"

class ItemBuilder:
    """Items of one object of one connection; record ids are `key#etag#row`, as without a primary key."""

    def __init__(self, serializer, connection_id, record_type, key, etag, imported_at):
        self.serialize = serializer.serialize
        self.connection_id, self.record_type, self.key, self.etag = connection_id, record_type, key, etag
        self.id_prefix = f"{key}#{etag.strip(chr(34))}"
        self.imported_at = imported_at

    def put_request(self, row, mapped):
        record_id = f"{self.id_prefix}#{row}"
        s = self.serialize
        item = {
            "pk": s(partition_key(self.connection_id, record_id)),
            "sk": s(record_id),
            "connection_id": s(self.connection_id),
            "record_type": s(self.record_type),
            "source_key": s(self.key),
            "source_etag": s(self.etag),
            "source_row": s(row),
            "imported_at": s(self.imported_at),
            "data": s(storable(mapped)),
        }
        return {"PutRequest": {"Item": item}}

def write_batch(client, requests):
    """One BatchWriteItem, and its UnprocessedItems again until none are left."""
    pending = {TABLE: requests}
    while pending:
        pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

def import_object(dynamodb, builder, body, map_row, in_flight, batch_size=25):
    """Streams an object body (bytes) through csv.DictReader and map_row, and writes the items with
    batch_write_item, `in_flight` requests at once from a thread pool, as the engine's writers do.
    Returns the rows written; the first write failure is raised."""
    slots, failures = threading.BoundedSemaphore(in_flight), []
    def write(requests):
        try:
            write_batch(dynamodb, requests)
        except Exception as e:  # the first failure is raised below
            failures.append(e)
        finally:
            slots.release()
    written, batch = 0, []
    with ThreadPoolExecutor(in_flight) as pool:
        reader = csv.DictReader(io.TextIOWrapper(body, encoding="utf-8", newline=""))
        for row, r in enumerate(reader, start=1):
            batch.append(builder.put_request(row, map_row(r)))
            if len(batch) == batch_size:
                slots.acquire()
                pool.submit(write, batch)
                written, batch = written + len(batch), []
        if batch:
            slots.acquire()
            pool.submit(write, batch)
            written += len(batch)
    if failures:
        raise failures[0]
    return written

def client(endpoint, pool):
    """boto3's DynamoDB client for the endpoint: a connection per thread in flight (botocore keeps
    10 by default), standard retries with 8 attempts as the connector's client."""
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(max_pool_connections=max(pool, 10),
                                      retries={"mode": "standard", "max_attempts": 8}))

def endpoint_stats(endpoint, reset=False):
    """ddb-latency's totals (GET /stats), or POST /reset to restart its in-flight high-water mark."""
    request = urllib.request.Request(endpoint + ("/reset" if reset else "/stats"),
                                     method="POST" if reset else "GET", data=b"" if reset else None)
    with urllib.request.urlopen(request) as response:
        return json.load(response)
