"""Checks that clickhouse_http.py speaks ClickHouse's HTTP interface the way clients expect.

Run with the project's venv (no pytest needed):

    .venv/bin/python -m unittest discover -s tests/support -p 'test_clickhouse_http.py' -v

Set CLICKHOUSE_HTTP_TEST_LOG=1 to see the server's log. The server runs as a subprocess,
as the Rust tests start it. Requests are built
here by hand, including the ones the `clickhouse` crate 0.15 sends (LZ4 block framing with
`decompress=1` and chunked encoding for inserts, `Accept-Encoding: lz4` and multipart
query parameters for queries), so the framing code below is written independently of the
server's.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
from typing import Iterable, Optional
from urllib.parse import urlencode

import lz4.block
import lz4.frame
from clickhouse_cityhash.cityhash import CityHash128

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clickhouse_http.py")
VERSION_SUFFIX = re.compile(r" \(version 26\.9[0-9.]* \(official build\)\)\n$")


# ---- a server subprocess ------------------------------------------------------------


class ServerProcess:
    """Starts clickhouse_http.py on a free port and stops it with SIGTERM."""

    def __init__(self, data_dir: Optional[str] = None):
        args = [sys.executable, SERVER, "--port", "0"]
        if data_dir:
            args += ["--data-dir", data_dir]
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log)
        ready, _, _ = select.select([self.process.stdout], [], [], 60)
        line = self.process.stdout.readline().decode() if ready else ""
        if not line.startswith("LISTENING "):
            self.process.kill()
            raise RuntimeError(f"server did not start: {line!r}\n{self.stderr()}")
        self.port = int(line.split()[1])

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, timeout: float = 20) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.process.stdout.close()


class Response:
    def __init__(self, raw: http.client.HTTPResponse):
        self.status = raw.status
        self.headers = raw.headers
        self.body = raw.read()

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class Client:
    """One keep-alive connection to the server."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(
        self,
        params: Optional[dict] = None,
        body: Optional[bytes | Iterable[bytes]] = None,
        headers: Optional[dict] = None,
        method: str = "POST",
        path: str = "/",
    ) -> Response:
        url = path + ("?" + urlencode(params) if params else "")
        headers = dict(headers or {})
        chunked = body is not None and not isinstance(body, (bytes, str))
        self.connection.request(method, url, body=body, headers=headers, encode_chunked=chunked)
        return Response(self.connection.getresponse())

    def ok(self, sql: str, **params) -> str:
        response = self.request(params, sql.encode())
        assert response.status == 200, response.text
        return response.text

    def close(self) -> None:
        self.connection.close()


# ---- ClickHouse formats, written independently of the server ------------------------


def frame_lz4_blocks(data: bytes, block_size: int) -> bytes:
    """ClickHouse's compressed block framing, as the crate's compression/lz4.rs writes it:
    CityHash128 of (method, sizes, data), then method 0x82, u32 size of header+data,
    u32 uncompressed size, then the raw LZ4 block. The checksum is two little-endian u64,
    the high half of clickhouse_cityhash's integer first (what ClickHouse stores)."""
    out = b""
    for start in range(0, len(data), block_size):
        chunk = data[start:start + block_size]
        compressed = lz4.block.compress(chunk, store_size=False)
        block = struct.pack("<BII", 0x82, 9 + len(compressed), len(chunk)) + compressed
        digest = CityHash128(block)
        out += struct.pack("<QQ", digest >> 64, digest & (2**64 - 1)) + block
    return out


def unframe_lz4_blocks(data: bytes) -> list[bytes]:
    """Decode (and check) ClickHouse compressed blocks; returns each block's content."""
    blocks, offset = [], 0
    while offset < len(data):
        method, size, uncompressed = struct.unpack_from("<BII", data, offset + 16)
        block = data[offset + 16:offset + 16 + size]
        digest = CityHash128(block)
        assert data[offset:offset + 16] == struct.pack("<QQ", digest >> 64, digest & (2**64 - 1)), "bad checksum"
        assert method == 0x82, hex(method)
        blocks.append(lz4.block.decompress(block[9:], uncompressed_size=uncompressed))
        offset += 16 + size
    return blocks


def varuint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def rb_string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return varuint(len(raw)) + raw


class Reader:
    def __init__(self, data: bytes):
        self.data, self.offset = data, 0

    def take(self, size: int) -> bytes:
        chunk = self.data[self.offset:self.offset + size]
        assert len(chunk) == size, "truncated"
        self.offset += size
        return chunk

    def varuint(self) -> int:
        shift = value = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    def string(self) -> str:
        return self.take(self.varuint()).decode()

    def done(self) -> bool:
        return self.offset == len(self.data)


def read_rbwnat(data: bytes) -> tuple[list[str], list[str], list[tuple]]:
    """Decode RowBinaryWithNamesAndTypes for the column types these tests use."""
    reader = Reader(data)
    count = reader.varuint()
    names = [reader.string() for _ in range(count)]
    types = [reader.string() for _ in range(count)]
    decoders = {
        "UInt8": lambda: reader.take(1)[0],
        "UInt32": lambda: struct.unpack("<I", reader.take(4))[0],
        "UInt64": lambda: struct.unpack("<Q", reader.take(8))[0],
        "String": reader.string,
        "DateTime64(3, 'UTC')": lambda: struct.unpack("<q", reader.take(8))[0],
    }
    rows = []
    while not reader.done():
        rows.append(tuple(decoders[kind]() for kind in types))
    return names, types, rows


def chunks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


# ---- the tests ----------------------------------------------------------------------


class ClickHouseHttpTest(unittest.TestCase):
    server: ServerProcess

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = ServerProcess()

    @classmethod
    def tearDownClass(cls) -> None:
        code = cls.server.stop()
        log = cls.server.stderr()
        cls.server.log.close()
        if code != 0 or os.environ.get("CLICKHOUSE_HTTP_TEST_LOG"):
            print(log, file=sys.stderr)
        assert code == 0, f"server exited with {code}"

    def setUp(self) -> None:
        self.client = Client(self.server.port)
        # Each test gets its own database, so tests don't see each other's tables.
        self.db = f"t_{uuid.uuid4().hex[:12]}"
        self.client.ok(f"CREATE DATABASE {self.db}")

    def tearDown(self) -> None:
        self.client.ok(f"DROP DATABASE IF EXISTS {self.db}")
        self.client.close()

    def assertClickHouseError(self, response: Response, code: int, name: str, status: int) -> None:
        self.assertEqual(response.status, status, response.text)
        self.assertEqual(response.headers["X-ClickHouse-Exception-Code"], str(code))
        self.assertTrue(response.text.startswith(f"Code: {code}. DB::Exception: "), response.text)
        self.assertIn(f"({name})", response.text)
        self.assertRegex(response.text, VERSION_SUFFIX)

    # -- basics

    def test_ping(self) -> None:
        response = self.client.request(method="GET", path="/ping")
        self.assertEqual((response.status, response.body), (200, b"Ok.\n"))

    def test_get_select_one_and_response_headers(self) -> None:
        response = self.client.request({"query": "SELECT 1", "query_id": "my-query"}, method="GET")
        self.assertEqual((response.status, response.body), (200, b"1\n"))
        self.assertEqual(response.headers["X-ClickHouse-Format"], "TabSeparated")
        self.assertEqual(response.headers["X-ClickHouse-Query-Id"], "my-query")
        self.assertTrue(response.headers["Content-Type"].startswith("text/tab-separated-values"))
        summary = json.loads(response.headers["X-ClickHouse-Summary"])
        self.assertEqual(summary["read_rows"], "1")
        self.assertTrue(all(isinstance(value, str) for value in summary.values()))

    def test_keep_alive_across_successes_and_errors(self) -> None:
        self.client.ok("SELECT 1")
        sock = self.client.connection.sock
        self.client.request(body=b"SELECT * FROM no_such_table")
        self.client.request({"query": "INSERT INTO no_such_table FORMAT TSV"}, body=[b"1\n", b"2\n"])
        self.assertEqual(self.client.ok("SELECT 2"), "2\n")
        self.assertIs(self.client.connection.sock, sock)

    # -- what the clickhouse crate sends

    def test_crate_style_describe_insert_and_fetch(self) -> None:
        self.client.ok(
            "CREATE TABLE events (id UInt64, name String, ts DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY id",
            database=self.db,
        )
        crate_headers = {"Accept-Encoding": "lz4", "X-ClickHouse-User": "default", "X-ClickHouse-Key": "secret",
                         "User-Agent": "clickhouse-rs/0.15.3 (lv:rust/1.89; os:linux)"}

        # Client::insert with validation first fetches the schema.
        response = self.client.request(
            {"default_format": "RowBinaryWithNamesAndTypes", "database": self.db, "describe_include_subcolumns": "0"},
            b"DESCRIBE TABLE `events`",
            crate_headers,
        )
        self.assertEqual(response.status, 200, response.text)
        self.assertEqual(response.headers["Content-Encoding"], "lz4")
        names, types, rows = read_rbwnat(lz4.frame.decompress(response.body))
        self.assertEqual(names[:2], ["name", "type"])
        self.assertEqual([(row[0], row[1]) for row in rows],
                         [("id", "UInt64"), ("name", "String"), ("ts", "DateTime64(3, 'UTC')")])

        # Insert<T>: RowBinaryWithNamesAndTypes, LZ4 blocks, streamed with chunked encoding.
        expected = [(i, f"event-{i}" * (i % 5), 1_700_000_000_000 + i) for i in range(5000)]
        data = varuint(3) + b"".join(rb_string(n) for n in ("id", "name", "ts"))
        data += b"".join(rb_string(t) for t in ("UInt64", "String", "DateTime64(3, 'UTC')"))
        data += b"".join(struct.pack("<Q", i) + rb_string(n) + struct.pack("<q", ts) for i, n, ts in expected)
        framed = frame_lz4_blocks(data, 16 * 1024)
        response = self.client.request(
            {"database": self.db,
             "query": "INSERT INTO `events`(`id`,`name`,`ts`) FORMAT RowBinaryWithNamesAndTypes",
             "decompress": "1"},
            chunks_of(framed, 7777),  # HTTP chunks deliberately not aligned with blocks
            {k: v for k, v in crate_headers.items() if k != "Accept-Encoding"},
        )
        self.assertEqual((response.status, response.body), (200, b""), response.text)
        self.assertEqual(json.loads(response.headers["X-ClickHouse-Summary"])["written_rows"], "5000")

        # Query::fetch with validation; also with compress=1 framing of the result.
        query = b"SELECT `id`,`name`,`ts` FROM events ORDER BY id"
        response = self.client.request(
            {"default_format": "RowBinaryWithNamesAndTypes", "database": self.db}, query, crate_headers
        )
        self.assertEqual(response.status, 200, response.text)
        self.assertEqual(response.headers["X-ClickHouse-Format"], "RowBinaryWithNamesAndTypes")
        self.assertEqual(response.headers["Content-Type"], "application/octet-stream")
        names, types, rows = read_rbwnat(lz4.frame.decompress(response.body))
        self.assertEqual(names, ["id", "name", "ts"])
        self.assertEqual(rows, expected)

        response = self.client.request(
            {"default_format": "RowBinaryWithNamesAndTypes", "database": self.db, "compress": "1"}, query
        )
        self.assertEqual(response.status, 200, response.text)
        self.assertNotIn("Content-Encoding", response.headers)
        self.assertEqual(read_rbwnat(b"".join(unframe_lz4_blocks(response.body)))[2], expected)

    def test_compress_param_uses_blocks_of_at_most_one_mib(self) -> None:
        response = self.client.request({"compress": "1"}, b"SELECT number FROM numbers(300000) FORMAT RowBinary")
        self.assertEqual(response.status, 200, response.text)
        blocks = unframe_lz4_blocks(response.body)
        self.assertEqual(len(blocks), 3)
        self.assertTrue(all(len(block) <= 1 << 20 for block in blocks))
        self.assertEqual(b"".join(blocks), b"".join(struct.pack("<Q", i) for i in range(300000)))

    def test_bad_checksum_is_rejected_and_connection_survives(self) -> None:
        self.client.ok("CREATE TABLE t (a UInt32) ENGINE = MergeTree ORDER BY a", database=self.db)
        framed = bytearray(frame_lz4_blocks(b"".join(struct.pack("<I", i) for i in range(100)), 64))
        framed[-3] ^= 0xFF  # corrupt the data of the last block
        sock_before = None
        self.client.ok("SELECT 1")
        sock_before = self.client.connection.sock
        response = self.client.request(
            {"database": self.db, "query": "INSERT INTO t FORMAT RowBinary", "decompress": "1"},
            chunks_of(bytes(framed), 100),
        )
        self.assertClickHouseError(response, 40, "CHECKSUM_DOESNT_MATCH", 500)
        self.assertEqual(self.client.ok("SELECT count() FROM t", database=self.db), "0\n")
        self.assertIs(self.client.connection.sock, sock_before)

    # -- query text, parameters, formats

    def test_query_parameters_in_url_and_multipart_body(self) -> None:
        response = self.client.request({"param_x": "21", "param_s": "a\\tb"}, b"SELECT {x:UInt8} * 2, {s:String}")
        self.assertEqual(response.text, "42\ta\\tb\n")

        # The crate sends parameters as multipart/form-data fields next to the query.
        boundary = "clickhouse-rs-boundary-0123456789abcdef"
        fields = [("query", "SELECT {a: UInt8} + 1 AS n, {z: String} AS z"), ("param_a", "41"), ("param_z", "last")]
        body = "".join(
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n" for name, value in fields
        ) + f"--{boundary}--\r\n"
        response = self.client.request(
            {"default_format": "JSONEachRow", "database": self.db, "max_threads": "1"},
            body.encode(),
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        self.assertEqual(response.status, 200, response.text)
        self.assertEqual(json.loads(response.body), {"n": 42, "z": "last"})

        response = self.client.request(body=b"SELECT {missing:UInt8}")
        self.assertClickHouseError(response, 456, "UNKNOWN_QUERY_PARAMETER", 500)

    def test_output_formats(self) -> None:
        sql = "SELECT number AS n, toString(number) AS s FROM numbers(2)"
        self.assertEqual(self.client.ok(sql), "0\t0\n1\t1\n")
        self.assertEqual(self.client.ok(sql + " FORMAT TabSeparatedWithNames"), "n\ts\n0\t0\n1\t1\n")
        self.assertEqual(self.client.ok(sql, default_format="TSV"), "0\t0\n1\t1\n")
        self.assertEqual(self.client.ok(sql, default_format="JSONEachRow"), '{"n":0,"s":"0"}\n{"n":1,"s":"1"}\n')
        response = self.client.request({"default_format": "TSV"}, (sql + " FORMAT JSON").encode())
        self.assertEqual(response.headers["X-ClickHouse-Format"], "JSON")
        self.assertTrue(response.headers["Content-Type"].startswith("application/json"))
        self.assertEqual(json.loads(response.body)["data"], [{"n": 0, "s": "0"}, {"n": 1, "s": "1"}])
        response = self.client.request({"default_format": "RowBinary"}, b"SELECT toUInt32(7)")
        self.assertEqual(response.body, struct.pack("<I", 7))
        response = self.client.request(body=b"SELECT 1", headers={"X-ClickHouse-Format": "JSONEachRow"})
        self.assertEqual(response.text, '{"1":1}\n')

    def test_query_param_and_body_are_joined_by_a_newline(self) -> None:
        self.assertEqual(self.client.ok("1 + 1", query="SELECT"), "2\n")

    def test_syntax_errors_empty_and_multi_statement_queries(self) -> None:
        self.assertClickHouseError(self.client.request(body=b"SELEC 1"), 62, "SYNTAX_ERROR", 400)
        self.assertClickHouseError(self.client.request(body=b"  -- nothing\n"), 62, "SYNTAX_ERROR", 400)
        self.assertClickHouseError(self.client.request(body=b"SELECT 1; SELECT 2"), 62, "SYNTAX_ERROR", 400)
        self.assertEqual(self.client.ok("SELECT 1;  "), "1\n")

    def test_unknown_table_error(self) -> None:
        response = self.client.request({"database": self.db}, b"SELECT * FROM missing")
        self.assertClickHouseError(response, 60, "UNKNOWN_TABLE", 404)
        response = self.client.request({"database": self.db, "query": "INSERT INTO missing FORMAT RowBinary",
                                        "decompress": "1"}, frame_lz4_blocks(b"\x01\x00\x00\x00", 1024))
        self.assertClickHouseError(response, 60, "UNKNOWN_TABLE", 404)
        response = self.client.request({"database": "no_such_db"}, b"SELECT 1")
        self.assertClickHouseError(response, 81, "UNKNOWN_DATABASE", 404)

    # -- databases

    def test_database_param_and_header_resolve_unqualified_names(self) -> None:
        self.client.ok("CREATE TABLE only_here (a UInt8) ENGINE = Memory", database=self.db)
        self.client.ok("INSERT INTO only_here VALUES (5)", database=self.db)
        self.assertEqual(self.client.ok("SELECT a FROM only_here", database=self.db), "5\n")
        self.assertEqual(self.client.ok("SELECT currentDatabase()", database=self.db), f"{self.db}\n")
        response = self.client.request(body=b"SELECT a FROM only_here", headers={"X-ClickHouse-Database": self.db})
        self.assertEqual(response.text, "5\n")
        # Without database= the next request is back in `default`.
        self.assertClickHouseError(self.client.request(body=b"SELECT a FROM only_here"), 60, "UNKNOWN_TABLE", 404)
        self.assertEqual(self.client.ok("SELECT currentDatabase()"), "default\n")

    def test_two_databases_are_isolated(self) -> None:
        other = self.db + "_b"
        self.client.ok(f"CREATE DATABASE {other}")
        try:
            for db, rows in ((self.db, b"1\tone\n2\ttwo\n"), (other, b"3\tthree\n")):
                self.client.ok("CREATE TABLE t (a UInt32, b String) ENGINE = MergeTree ORDER BY a", database=db)
                response = self.client.request({"database": db, "query": "INSERT INTO t FORMAT TSV"}, [rows])
                self.assertEqual(response.status, 200, response.text)
            self.assertEqual(self.client.ok("SELECT a, b FROM t ORDER BY a", database=self.db), "1\tone\n2\ttwo\n")
            self.assertEqual(self.client.ok("SELECT a, b FROM t ORDER BY a", database=other), "3\tthree\n")
            self.client.ok("DROP TABLE t", database=other)
            self.assertEqual(self.client.ok("SELECT count() FROM t", database=self.db), "2\n")
        finally:
            self.client.ok(f"DROP DATABASE IF EXISTS {other}")

    # -- inserts

    def test_insert_forms(self) -> None:
        self.client.ok("CREATE TABLE t (a UInt32, b String) ENGINE = MergeTree ORDER BY a", database=self.db)
        # Chunked body, query in the URL.
        response = self.client.request({"database": self.db, "query": "INSERT INTO t (a, b) FORMAT TSV"},
                                       [b"1\tx\n2", b"\ty\n"])
        self.assertEqual(response.status, 200, response.text)
        # Query and data both in the body, data after the first newline.
        self.client.ok(f"INSERT INTO {self.db}.t FORMAT JSONEachRow\n" + '{"a": 3, "b": "z"}\n')
        # Data on the same line as the query, with SETTINGS before FORMAT.
        self.client.ok("INSERT INTO t SETTINGS async_insert = 0 FORMAT CSV 4,w", database=self.db)
        # VALUES, and INSERT ... SELECT, run as they are.
        self.client.ok("INSERT INTO t VALUES (5, 'v')", database=self.db)
        self.client.ok("INSERT INTO t SELECT 6, 'u'", database=self.db)
        # A table named like the FORMAT keyword, and parameters in an insert.
        self.client.ok("CREATE TABLE format (a UInt8) ENGINE = Memory", database=self.db)
        self.client.ok("INSERT INTO format FORMAT TSV\n9\n", database=self.db)
        self.assertEqual(self.client.ok("SELECT a FROM format", database=self.db), "9\n")
        self.assertEqual(
            self.client.ok("SELECT a, b FROM t ORDER BY a", database=self.db),
            "1\tx\n2\ty\n3\tz\n4\tw\n5\tv\n6\tu\n",
        )
        self.assertClickHouseError(
            self.client.request({"database": self.db}, b"INSERT INTO t FORMAT TSV;1\tx\n"), 62, "SYNTAX_ERROR", 400
        )
        response = self.client.request({"database": self.db, "query": "INSERT INTO t FORMAT TSV"}, b"not-a-number\tx\n")
        self.assertEqual(response.status, 400, response.text)  # a CANNOT_PARSE_* error
        self.assertEqual(self.client.ok("SELECT count() FROM t", database=self.db), "6\n")

    def test_insert_with_client_settings(self) -> None:
        self.client.ok("CREATE TABLE t (a UInt32, ts DateTime('UTC')) ENGINE = MergeTree ORDER BY a", database=self.db)
        response = self.client.request(
            {"database": self.db, "query": "INSERT INTO t FORMAT TSV", "async_insert": "0",
             "wait_end_of_query": "1", "max_execution_time": "30", "insert_deduplication_token": "tok-1",
             "date_time_input_format": "best_effort", "input_format_binary_read_json_as_string": "1",
             "session_id": "s1", "session_timeout": "60", "user": "default", "password": ""},
            [b"1\t2024-01-02T03:04:05Z\n"],
        )
        self.assertEqual(response.status, 200, response.text)
        self.assertEqual(self.client.ok("SELECT a, ts FROM t", database=self.db), "1\t2024-01-02 03:04:05\n")

    def test_bulk_rowbinary_insert_is_fast(self) -> None:
        self.client.ok("CREATE TABLE big (id UInt64, payload String) ENGINE = MergeTree ORDER BY id", database=self.db)
        rows = 400_000
        payload = rb_string(b"x" * 40)
        data = b"".join(struct.pack("<Q", i) + payload for i in range(rows))  # ~20 MB
        framed = frame_lz4_blocks(data, 256 * 1024)
        started = time.monotonic()
        response = self.client.request(
            {"database": self.db, "query": "INSERT INTO `big`(`id`,`payload`) FORMAT RowBinary", "decompress": "1"},
            chunks_of(framed, 256 * 1024),
        )
        elapsed = time.monotonic() - started
        self.assertEqual(response.status, 200, response.text)
        self.assertEqual(self.client.ok("SELECT count(), sum(id) FROM big", database=self.db),
                         f"{rows}\t{rows * (rows - 1) // 2}\n")
        self.assertLess(elapsed, 15, f"{len(data) / 1e6:.0f} MB insert took {elapsed:.1f}s")

    def test_aborted_chunked_insert_inserts_nothing(self) -> None:
        # The crate aborts an Insert that is dropped without end() by cutting the chunked body.
        self.client.ok("CREATE TABLE t (a UInt32) ENGINE = MergeTree ORDER BY a", database=self.db)
        query = urlencode({"database": self.db, "query": "INSERT INTO t FORMAT TSV"})
        with socket.create_connection(("127.0.0.1", self.server.port)) as raw:
            raw.sendall(f"POST /?{query} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "4\r\n1\n2\n\r\n10\r\n3\n".encode())
            time.sleep(0.2)
        time.sleep(0.3)
        self.assertEqual(self.client.ok("SELECT count() FROM t", database=self.db), "0\n")

    # -- settings

    def test_settings_apply_to_one_request_only(self) -> None:
        self.assertEqual(self.client.ok("SELECT getSetting('max_threads')", max_threads="1"), "1\n")
        default = self.client.ok("SELECT getSetting('max_threads')")
        self.assertNotEqual(default, "1\n")
        # A SET statement sent as a query does not leak into later requests either.
        self.client.ok("SET max_threads = 1")
        self.assertEqual(self.client.ok("SELECT getSetting('max_threads')"), default)
        response = self.client.request({"no_such_setting": "1"}, b"SELECT 1")
        self.assertClickHouseError(response, 115, "UNKNOWN_SETTING", 404)
        response = self.client.request({"max_threads": "lots"}, b"SELECT 1")
        self.assertEqual(response.status, 400, response.text)
        self.assertEqual(self.client.ok("SELECT getSetting('max_threads')"), default)
        # HTTP-only parameters are accepted and ignored, as by ClickHouse.
        ignored = {"wait_end_of_query": "1", "session_id": "x", "session_timeout": "60", "session_check": "0",
                   "role": "r", "client_protocol_version": "0", "buffer_size": "1000", "quota_key": "q",
                   "stacktrace": "1", "user": "u", "password": "p", "send_progress_in_http_headers": "1",
                   "enable_http_compression": "1", "http_zlib_compression_level": "3"}
        self.assertEqual(self.client.ok("SELECT 1", **ignored), "1\n")

    # -- HTTP encodings and framing

    def test_http_compression_of_responses(self) -> None:
        sql = b"SELECT number FROM numbers(1000)"
        expected = "".join(f"{i}\n" for i in range(1000)).encode()
        response = self.client.request(body=sql, headers={"Accept-Encoding": "lz4"})
        self.assertEqual(response.headers["Content-Encoding"], "lz4")
        self.assertEqual(lz4.frame.decompress(response.body), expected)
        response = self.client.request(body=sql, headers={"Accept-Encoding": "gzip"})
        self.assertEqual(response.headers["Content-Encoding"], "gzip")
        self.assertEqual(gzip.decompress(response.body), expected)
        response = self.client.request({"enable_http_compression": "0"}, sql, {"Accept-Encoding": "lz4"})
        self.assertNotIn("Content-Encoding", response.headers)
        self.assertEqual(response.body, expected)
        response = self.client.request(body=sql, headers={"Accept-Encoding": "zstd"})  # unsupported: plain
        self.assertNotIn("Content-Encoding", response.headers)
        # Errors come back uncompressed, with the code header.
        response = self.client.request(body=b"SELECT * FROM missing", headers={"Accept-Encoding": "lz4"})
        self.assertClickHouseError(response, 60, "UNKNOWN_TABLE", 404)

    def test_request_content_encoding(self) -> None:
        self.client.ok("CREATE TABLE t (a UInt8) ENGINE = Memory", database=self.db)
        for encoding, data in (("gzip", gzip.compress(b"1\n2\n")), ("lz4", lz4.frame.compress(b"3\n"))):
            response = self.client.request({"database": self.db, "query": "INSERT INTO t FORMAT TSV"}, data,
                                           {"Content-Encoding": encoding})
            self.assertEqual(response.status, 200, response.text)
        self.assertEqual(self.client.ok("SELECT sum(a) FROM t", database=self.db), "6\n")

    def test_chunked_query_body(self) -> None:
        response = self.client.request(body=[b"SELECT ", b"40 + ", b"2"])
        self.assertEqual(response.text, "42\n")

    def test_concurrent_requests(self) -> None:
        errors: list[str] = []

        def worker(index: int) -> None:
            client = Client(self.server.port)
            try:
                for j in range(15):
                    got = client.ok(f"SELECT {index} * 100 + {j}", database=self.db)
                    if got != f"{index * 100 + j}\n":
                        errors.append(got)
            except Exception as exc:  # reported below
                errors.append(repr(exc))
            finally:
                client.close()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        self.assertEqual(errors, [])

    def test_unknown_path(self) -> None:
        response = self.client.request(method="GET", path="/nope")
        self.assertEqual(response.status, 404)
        self.assertEqual(self.client.ok("SELECT 3"), "3\n")


class LifecycleTest(unittest.TestCase):
    def test_sigterm_stops_cleanly_and_data_dir_persists(self) -> None:
        data_dir = tempfile.mkdtemp(prefix="clickhouse-http-test-")
        try:
            server = ServerProcess(data_dir)
            client = Client(server.port)
            client.ok("CREATE TABLE kept (a UInt8) ENGINE = MergeTree ORDER BY a")
            client.ok("INSERT INTO kept VALUES (7)")
            client.close()
            started = time.monotonic()
            self.assertEqual(server.stop(), 0, server.stderr())
            self.assertLess(time.monotonic() - started, 10)
            server.log.close()

            server = ServerProcess(data_dir)
            client = Client(server.port)
            self.assertEqual(client.ok("SELECT a FROM kept"), "7\n")
            client.close()
            self.assertEqual(server.stop(), 0, server.stderr())
            server.log.close()
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
