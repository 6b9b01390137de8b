#!/usr/bin/env python3
"""moto server, with DynamoDB's writes made atomic as they are in AWS.

moto serves requests on threads and evaluates a conditional write (the connection's lease, the
ledger, a template version) and applies it without a lock, so two writers racing for one lease can
both win there, where DynamoDB lets exactly one. This runs moto's own WSGI application with one lock
around DynamoDB requests; everything else (S3 streams, STS, Lambda) stays concurrent.

Usage: moto_server.py -H HOST -p PORT [--until-stdin-closes]   (the flags of moto_server, and one more)

--until-stdin-closes: exit when standard input reaches its end. The integration tests start a server
this way with a pipe only their process holds, so the server ends with that process however it ends.
"""
import argparse
import os
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

parser = argparse.ArgumentParser()
parser.add_argument("-H", "--host", default="127.0.0.1")
parser.add_argument("-p", "--port", type=int, required=True)
parser.add_argument("--until-stdin-closes", action="store_true")
args = parser.parse_args()

if args.until_stdin_closes:
    def exit_at_end_of_stdin():
        while sys.stdin.buffer.read(4096):
            pass
        os._exit(0)

    threading.Thread(target=exit_at_end_of_stdin, daemon=True).start()

moto = DomainDispatcherApplication(create_backend_app)
dynamodb = threading.Lock()


def app(environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        with dynamodb:
            # The whole answer is made under the lock; DynamoDB's answers are small.
            return list(moto(environ, start_response))
    return moto(environ, start_response)


run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
