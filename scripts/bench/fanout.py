"""Fan-out of the dispatcher: N active connections in moto's DynamoDB, the real dispatcher (release
build) under `cargo lambda watch`, invoking a `worker` function registered in moto's Lambda API, which
accepts asynchronous invocations (202) as Lambda does. Times the dispatcher's invocation on the
scheduled event and prints its summary.

Why moto's Lambda API and not the worker under `cargo lambda watch`: the emulator runs an Event
invocation to completion before answering, one instance per function, so it would time worker runs,
not the fan-out. Usage: fanout.py N CLI_PATH"""
import io, json, os, signal, socket, subprocess, sys, time, zipfile
import boto3

n, cli = int(sys.argv[1]), sys.argv[2]
env = dict(os.environ, S3C_STATE_TABLE="fanout-state", S3C_RECORDS_TABLE="fanout-records")

def run(*args):
    return subprocess.run([cli, *args], check=True, capture_output=True, text=True, env=env).stdout

run("init")
with open("/tmp/s3c-fanout-template.json", "w") as f:
    json.dump({"id": "fanout", "record_type": "r", "format": {"type": "csv"},
               "columns": [{"source": "id", "field": "id", "type": "string"}]}, f)
run("templates", "put", "/tmp/s3c-fanout-template.json")
boto3.client("s3").create_bucket(Bucket="fanout-empty")
first = json.loads(run("connections", "create", "--tenant", "bench", "--name", "fanout-0", "--account-id", "123456789012",
                       "--bucket", "fanout-empty", "--region", "us-east-1", "--template", "fanout", "--json"))
table = boto3.resource("dynamodb").Table("fanout-state")
item = table.get_item(Key={"pk": f"CONN#{first['connection']['id']}", "sk": "CONN"}, ConsistentRead=True)["Item"]
start = time.perf_counter()
with table.batch_writer() as batch:
    for i in range(n):
        cid = f"fanout{i:06d}"
        batch.put_item(Item=dict(item, pk=f"CONN#{cid}", id=cid, name=f"fanout-{i}", status="active",
                                 status_key="STATUS#active"))
table.delete_item(Key={"pk": f"CONN#{first['connection']['id']}", "sk": "CONN"})
print(f"seeded {n} active connections in {time.perf_counter() - start:.1f}s", file=sys.stderr)

# The worker, as moto's Lambda API knows it: asynchronous invocations are accepted and queued.
iam = boto3.client("iam")
role = iam.create_role(RoleName="fanout-worker", AssumeRolePolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                            "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
code = io.BytesIO()
with zipfile.ZipFile(code, "w") as z:
    z.writestr("bootstrap", "#!/bin/sh\n")
boto3.client("lambda").create_function(FunctionName="fanout-worker", Runtime="provided.al2023", Role=role,
                                       Handler="bootstrap", Code={"ZipFile": code.getvalue()})

sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]; sock.close()
endpoint = f"http://127.0.0.1:{port}"
log = open(f"target/cargo-lambda-watch-fanout.log", "w")
args = ["cargo", "lambda", "watch", "--release", "-A", "127.0.0.1", "-P", str(port)]
for k, v in {"S3C_STATE_TABLE": "fanout-state", "S3C_RECORDS_TABLE": "fanout-records",
             "S3C_WORKER_FUNCTION": "fanout-worker", "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
             "AWS_ACCESS_KEY_ID": "testing",
             "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "RUST_LOG": "warn"}.items():
    args += ["--env-var", f"{k}={v}"]
watch = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
try:
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close(); break
        except OSError:
            time.sleep(0.1)
    from botocore.config import Config
    lam = boto3.client("lambda", endpoint_url=endpoint,
                       config=Config(read_timeout=900, connect_timeout=10, retries={"max_attempts": 0}))
    # Start the dispatcher before timing it, on a payload that is not an event (it rejects it, which
    # the emulator answers with a 500; the instance is up all the same).
    try:
        lam.invoke(FunctionName="dispatcher", Payload=json.dumps({"not": "an event"}))
    except lam.exceptions.ClientError:
        pass
    event = open("events/scheduled.json").read()
    start = time.perf_counter()
    out = lam.invoke(FunctionName="dispatcher", Payload=event)
    elapsed = time.perf_counter() - start
    summary = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, summary
    print(json.dumps({"connections": n, "seconds": elapsed, "invocations_per_second": summary["invoked"] / elapsed,
                      "invoked": summary["invoked"], "failed": summary["failed"], "skipped": summary["skipped"]}))
finally:
    os.killpg(watch.pid, signal.SIGTERM)
    watch.wait()
