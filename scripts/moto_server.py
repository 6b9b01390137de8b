#!/usr/bin/env python3
"""moto server, with DynamoDB's writes made atomic as they are in AWS, and multipart objects
stamped as S3 stamps them.

moto serves requests on threads and evaluates a conditional write (the connection's lease, the
ledger, a template version) and applies it without a lock, so two writers racing for one lease can
both win there, where DynamoDB lets exactly one. This runs moto's own WSGI application with one lock
around DynamoDB requests; everything else (S3 streams, STS, Lambda) stays concurrent.

S3 gives an object made by a multipart upload the LastModified of the upload's start; moto gives
it the completion's. The upload that completes after a sync's window began is the case the
connector must not miss, so moto here stamps it as S3 does.

Usage: moto_server.py -H HOST -p PORT [--until-stdin-closes]   (the flags of moto_server, and one more)

--until-stdin-closes: exit when standard input reaches its end. The integration tests start a server
this way with a pipe only their process holds, so the server ends with that process however it ends.
"""
import argparse
import os
import sys
import threading

from moto.core.utils import utcnow
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.s3 import models as s3_models
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

initiate_multipart = s3_models.FakeMultipart.__init__


def initiate_multipart_stamped(self, *args, **kwargs):
    initiate_multipart(self, *args, **kwargs)
    self.initiated = utcnow()


complete_multipart = s3_models.S3Backend.complete_multipart_upload


def complete_multipart_at_initiation(self, bucket_name, multipart_id, body):
    upload = self.get_bucket(bucket_name).multiparts[multipart_id]
    key = complete_multipart(self, bucket_name, multipart_id, body)
    if key is not None:
        key.last_modified = upload.initiated
    return key


s3_models.FakeMultipart.__init__ = initiate_multipart_stamped
s3_models.S3Backend.complete_multipart_upload = complete_multipart_at_initiation

moto = DomainDispatcherApplication(create_backend_app)
dynamodb = threading.Lock()


def app(environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        with dynamodb:
            # The whole answer is made under the lock; DynamoDB's answers are small.
            return list(moto(environ, start_response))
    return moto(environ, start_response)


run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
