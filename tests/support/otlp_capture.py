#!/usr/bin/env python3
"""otlp_capture.py - a tiny OTLP/HTTP receiver that stores every export body in a directory.

Usage:
    python otlp_capture.py --port 0 --out DIR

The first line on stdout is ``LISTENING <port>`` (flushed). Every POST to /v1/logs, /v1/metrics or
/v1/traces is written to DIR as ``<kind>-<n>.<ext>`` where n counts all exports from 1 (the naming of
tests/fixtures/claude-code-*), kind is logs/metrics/traces and ext is ``json`` for
``application/json`` bodies and ``pb`` for ``application/x-protobuf`` ones. gzip/deflate request
bodies (``Content-Encoding``) are decompressed before they are stored. The answer is 200 with an
empty export response: ``{}`` for JSON, zero bytes for protobuf (the encoding of an empty
Export*ServiceResponse).

With ``--grpc`` it is an OTLP/gRPC receiver instead (needs the ``grpcio`` package, which the project's
venv does not have; ``pip install grpcio`` in a scratch venv): the Export calls of the logs, metrics
and trace services are stored the same way, as ``<kind>-<n>.pb`` (a gRPC request message is the same
protobuf as an OTLP/HTTP protobuf body), and answered with an empty response message.

Without ``--grpc`` an OTLP/gRPC client connecting is recognised by the HTTP/2 connection preface and
logged to stderr, then the connection is closed.

This is a verification aid for the support scripts (see README.md), not a real collector. The HTTP
mode uses the standard library only.
"""

import argparse
import gzip
import http.server
import os
import sys
import threading
import zlib

KINDS = {"/v1/logs": "logs", "/v1/metrics": "metrics", "/v1/traces": "traces"}
HTTP2_PREFACE = b"PRI * HTTP/2.0"


class CaptureHandler(http.server.BaseHTTPRequestHandler):
    """Stores OTLP/HTTP export bodies; answers everything else with 404."""

    protocol_version = "HTTP/1.1"
    server_version = "otlp-capture/1"

    def handle_one_request(self):
        # OTLP/gRPC is HTTP/2 with prior knowledge: detect its preface instead of failing to parse it.
        if self.rfile.peek(len(HTTP2_PREFACE))[: len(HTTP2_PREFACE)] == HTTP2_PREFACE:
            log("HTTP/2 (gRPC) connection preface received; this receiver only speaks OTLP/HTTP")
            self.close_connection = True
            return
        super().handle_one_request()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        path = self.path.split("?", 1)[0]
        kind = KINDS.get(path)
        if kind is None:
            log(f"POST {self.path}: unknown path, {len(body)} bytes")
            self._answer(404, b"", "text/plain")
            return
        is_json = "json" in (self.headers.get("Content-Type") or "")
        ext = "json" if is_json else "pb"
        with self.server.lock:
            self.server.counter += 1
            name = f"{kind}-{self.server.counter}.{ext}"
        with open(os.path.join(self.server.out_dir, name), "wb") as f:
            f.write(body)
        log(f"POST {path} ({self.headers.get('Content-Type')}, {encoding or 'identity'}) -> {name}")
        if is_json:
            self._answer(200, b"{}", "application/json")
        else:
            self._answer(200, b"", "application/x-protobuf")

    def do_GET(self):
        self._answer(404, b"", "text/plain")

    def _answer(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        pass


GRPC_SERVICES = {
    "opentelemetry.proto.collector.logs.v1.LogsService": "logs",
    "opentelemetry.proto.collector.metrics.v1.MetricsService": "metrics",
    "opentelemetry.proto.collector.trace.v1.TraceService": "traces",
}


def serve_grpc(host, port, out_dir):
    """Serve OTLP/gRPC, storing the raw request messages (no generated stubs needed)."""
    import grpc  # optional dependency, only for this mode
    from concurrent import futures

    lock = threading.Lock()
    counter = [0]

    def exporter(kind):
        def export(request, context):
            with lock:
                counter[0] += 1
                name = f"{kind}-{counter[0]}.pb"
            with open(os.path.join(out_dir, name), "wb") as f:
                f.write(request)
            log(f"gRPC {kind} Export -> {name}")
            return b""  # an empty Export*ServiceResponse

        return export

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    for service, kind in GRPC_SERVICES.items():
        handler = grpc.unary_unary_rpc_method_handler(exporter(kind))  # bytes in, bytes out
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {"Export": handler}),))
    bound = server.add_insecure_port(f"{host}:{port}")
    server.start()
    print(f"LISTENING {bound}", flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(0)


def log(message):
    print(f"otlp_capture: {message}", file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--out", required=True, help="directory the export bodies are written to")
    parser.add_argument("--grpc", action="store_true", help="speak OTLP/gRPC instead of OTLP/HTTP")
    args = parser.parse_args()

    os.makedirs(args.out, exist_ok=True)
    if args.grpc:
        serve_grpc(args.host, args.port, args.out)
        return
    server = http.server.ThreadingHTTPServer((args.host, args.port), CaptureHandler)
    server.daemon_threads = True
    server.out_dir = args.out
    server.counter = 0
    server.lock = threading.Lock()
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
