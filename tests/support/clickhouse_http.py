"""A ClickHouse-compatible HTTP server backed by the in-process chdb engine, for tests only.

Its one job: let the test suite talk to a real ClickHouse engine (chdb-core, ClickHouse
26.9 in-process) over the ClickHouse HTTP interface, as the Rust `clickhouse` crate 0.15
(and curl) do, on a machine where no ClickHouse server can be installed.

    python tests/support/clickhouse_http.py --port 0 [--host 127.0.0.1] [--data-dir DIR] [--config-file XML]

With `--port 0` a free port is chosen; the first line on stdout is always `LISTENING <port>`.
Logs go to stderr, one line per request. SIGTERM or SIGINT stops the server cleanly.

What is implemented (ClickHouse semantics unless noted):
- `GET /ping`, `GET /replicas_status` -> `Ok.\\n`.
- `GET|POST /`: the query is the `query` URL parameter, followed by a newline and the
  request body when both are present; or the `query` field of a multipart/form-data body
  (the crate sends `param_*` query parameters that way).
- `database` parameter or `X-ClickHouse-Database` header: unqualified names resolve there.
- `default_format` parameter or `X-ClickHouse-Format` header: output format when the query
  has no FORMAT clause; TabSeparated otherwise.
- `param_<name>`: query parameters for `{name:Type}` placeholders (chdb substitutes them).
- Any other URL parameter is a ClickHouse setting, applied for this request only; unknown
  settings fail with UNKNOWN_SETTING as in ClickHouse. The HTTP-only parameters ClickHouse
  reserves (user, password, session_id, wait_end_of_query, role, ...) are accepted and ignored.
- `INSERT ... FORMAT X` with the data in the body (or after the query in the body): the
  data is streamed to a temporary file and run as `INSERT ... FROM INFILE ... FORMAT X`.
- `decompress=1`: the body is in ClickHouse's native compressed block framing (LZ4 or
  none), checksums verified. `compress=1`: the response is framed the same way (LZ4).
- Request `Content-Encoding` gzip, deflate, xz, bz2, lz4; response `Accept-Encoding` gzip,
  deflate, lz4 (when `enable_http_compression` is on, its default in 26.9); no zstd or br,
  so a client asking only for those gets a plain body. Error bodies are never compressed.
- Chunked request bodies, HTTP/1.1 keep-alive, Content-Length on every response.
- Errors: `Code: N. DB::Exception: ... (NAME) (version V (official build))`, the
  `X-ClickHouse-Exception-Code` header, and ClickHouse's mapping of codes to HTTP statuses.
- Response headers X-ClickHouse-Query-Id (`query_id` or a new UUID), -Format, -Summary
  (read/written rows and bytes, elapsed; result_rows is always 0), -Timezone.

Differences from a real server: one shared engine session serves all requests one at a
time (`session_id`/`session_timeout` are ignored, so temporary tables and `SET` are not
per-session; a `SET` statement sent as a query is undone after its request); results are
buffered whole (as with `wait_end_of_query=1`), so errors never arrive mid-body and no
X-ClickHouse-Exception-Tag is sent; GET does not imply readonly; the `readonly` parameter
is ignored; external tables in multipart bodies are rejected; an INSERT's data always goes
through a file, so `async_insert=1` inserts are visible as soon as the request returns.

Users: every request runs as the engine's one user, `default`. With `--config-file` the
engine loads that server config, and with it the users.xml (and users.d/) it names: the
`default` user's grants, settings profile and constraints then apply to every request, as
they would to that user on a server (tests/stack_files.rs runs the shipped users this way).
As on a server, the `database` parameter needs no grant (ClickHouse checks it only for a
`USE` statement): when `USE` is refused, the request runs without it.
"""

from __future__ import annotations

import argparse
import bz2
import json
import lzma
import os
import re
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator, Optional
from urllib.parse import parse_qsl, urlsplit

import lz4.block
import lz4.frame
from chdb import session as chdb_session
from clickhouse_cityhash.cityhash import CityHash128

# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------

# ClickHouse error codes this front raises itself (src/Common/ErrorCodes.cpp).
SYNTAX_ERROR = (62, "SYNTAX_ERROR")
CANNOT_READ_ALL_DATA = (33, "CANNOT_READ_ALL_DATA")
TOO_LARGE_SIZE_COMPRESSED = (39, "TOO_LARGE_SIZE_COMPRESSED")
CHECKSUM_DOESNT_MATCH = (40, "CHECKSUM_DOESNT_MATCH")
NOT_IMPLEMENTED = (48, "NOT_IMPLEMENTED")
UNKNOWN_COMPRESSION_METHOD = (89, "UNKNOWN_COMPRESSION_METHOD")
UNKNOWN_SETTING = (115, "UNKNOWN_SETTING")
CANNOT_DECOMPRESS = (271, "CANNOT_DECOMPRESS")
BAD_REQUEST_PARAMETER = (408, "BAD_REQUEST_PARAMETER")
POCO_EXCEPTION = (1000, "POCO_EXCEPTION")

# ClickHouse's exceptionCodeToHTTPStatus (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp),
# keyed by error name: chdb's messages end with the name, so numbers are not needed here.
_STATUS_BY_ERROR_NAME = {
    **dict.fromkeys(["REQUIRED_PASSWORD"], 401),
    **dict.fromkeys(
        ["UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "SET_NON_GRANTED_ROLE", "ACCESS_DENIED"],
        403,
    ),
    **dict.fromkeys(
        [
            "BAD_ARGUMENTS", "CANNOT_COMPILE_REGEXP", "CANNOT_PARSE_TEXT", "CANNOT_PARSE_ESCAPE_SEQUENCE",
            "CANNOT_PARSE_QUOTED_STRING", "CANNOT_PARSE_DATE", "CANNOT_PARSE_DATETIME", "CANNOT_PARSE_NUMBER",
            "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING", "CANNOT_PARSE_IPV4", "CANNOT_PARSE_IPV6",
            "CANNOT_PARSE_INPUT_ASSERTION_FAILED", "CANNOT_PARSE_UUID", "DUPLICATE_COLUMN", "ILLEGAL_COLUMN",
            "UNKNOWN_ELEMENT_IN_AST", "UNKNOWN_TYPE_OF_AST_NODE", "THERE_IS_NO_COLUMN", "TOO_DEEP_AST",
            "TOO_BIG_AST", "UNEXPECTED_AST_STRUCTURE", "SYNTAX_ERROR", "INCORRECT_DATA", "TYPE_MISMATCH",
            "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
        ],
        400,
    ),
    **dict.fromkeys(
        [
            "UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE", "UNKNOWN_STORAGE",
            "UNKNOWN_DATABASE", "UNKNOWN_SETTING", "UNKNOWN_DIRECTION_OF_SORTING", "UNKNOWN_AGGREGATE_FUNCTION",
            "UNKNOWN_FORMAT", "UNKNOWN_DATABASE_ENGINE", "UNKNOWN_TYPE_OF_QUERY", "UNKNOWN_ROLE",
        ],
        404,
    ),
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "SOCKET_TIMEOUT": 503,
    "CANNOT_OPEN_FILE": 503,
    "HTTP_LENGTH_REQUIRED": 411,
    "TIMEOUT_EXCEEDED": 408,
    "CANNOT_SCHEDULE_TASK": 503,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}


class ClickHouseError(Exception):
    """An error to report the way ClickHouse does: code, name and message."""

    def __init__(self, error: tuple[int, str], message: str):
        super().__init__(message)
        self.code, self.name = error
        self.message = message

    @property
    def http_status(self) -> int:
        return _STATUS_BY_ERROR_NAME.get(self.name, 500)

    def render(self, version: str) -> str:
        return f"Code: {self.code}. DB::Exception: {self.message} ({self.name}) (version {version} (official build))"


_CHDB_PREFIX = re.compile(r"Code: (\d+)\. DB::Exception: ")
# chdb nests messages: "Code: 73. DB::Exception: Code: 73. DB::Exception: <msg> (NAME) (version
# 26.9.2.1). (NAME)". After the prefixes are stripped, the core ends at the first "(NAME)"
# that is followed only by repetitions of " (version ...). (NAME)".
_CHDB_CORE = re.compile(r"(.*?) \(([A-Z][A-Z0-9_]*)\)((?: \(version [^()]*\)\. \([A-Z][A-Z0-9_]*\))*)\s*$", re.S)


def error_from_chdb(exc: BaseException) -> ClickHouseError:
    """Turn a chdb exception into a ClickHouseError, unwrapping chdb's nested messages."""
    text = str(exc).strip()
    match = _CHDB_PREFIX.match(text)
    if not match:
        return ClickHouseError(POCO_EXCEPTION, text or type(exc).__name__)
    code = int(match.group(1))
    while match:
        text = text[match.end():]
        match = _CHDB_PREFIX.match(text)
    core = _CHDB_CORE.match(text)
    if core:
        return ClickHouseError((code, core.group(2)), core.group(1))
    return ClickHouseError((code, "UNKNOWN_EXCEPTION"), text)


class BodyFramingError(Exception):
    """The HTTP request body itself is malformed; the connection cannot be reused."""


# --------------------------------------------------------------------------------------
# ClickHouse native compressed blocks (compress=1 / decompress=1)
# --------------------------------------------------------------------------------------
# Block: 16-byte CityHash128 (v1.0.2) of the rest of the block, written as two little-endian
# u64 (the high half of clickhouse_cityhash's int first: verified against MergeTree .bin
# files written by chdb itself), then a 9-byte header: method byte, u32 LE size of
# header + data, u32 LE uncompressed size; then the data.

_METHOD_NONE = 0x02
_METHOD_LZ4 = 0x82
_CHECKSUM_SIZE = 16
_HEADER_SIZE = 9
_MAX_COMPRESSED_BLOCK = 1 << 30  # ClickHouse's DBMS_MAX_COMPRESSED_SIZE
_RESPONSE_BLOCK_SIZE = 1 << 20  # ClickHouse compresses responses in blocks of 1 MiB


def _checksum(header_and_data: bytes) -> bytes:
    digest = CityHash128(header_and_data)
    return struct.pack("<QQ", digest >> 64, digest & 0xFFFFFFFFFFFFFFFF)


def compress_native(data: bytes, block_size: int = _RESPONSE_BLOCK_SIZE) -> bytes:
    """Frame `data` as ClickHouse LZ4 compressed blocks of at most `block_size` bytes."""
    out = bytearray()
    view = memoryview(data)
    for start in range(0, len(data), block_size):
        chunk = view[start:start + block_size]
        compressed = lz4.block.compress(chunk, store_size=False)
        header_and_data = struct.pack("<BII", _METHOD_LZ4, _HEADER_SIZE + len(compressed), len(chunk)) + compressed
        out += _checksum(header_and_data)
        out += header_and_data
    return bytes(out)


class NativeDecompressor:
    """Streaming decoder of ClickHouse compressed blocks: feed() bytes, get bytes back."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        out = []
        offset = 0
        buf = self._buffer
        while len(buf) - offset >= _CHECKSUM_SIZE + _HEADER_SIZE:
            method, size, uncompressed = struct.unpack_from("<BII", buf, offset + _CHECKSUM_SIZE)
            if size < _HEADER_SIZE or size > _MAX_COMPRESSED_BLOCK:
                raise ClickHouseError(
                    TOO_LARGE_SIZE_COMPRESSED,
                    f"Too large size_compressed_without_checksum: {size}. Most likely corrupted data",
                )
            end = offset + _CHECKSUM_SIZE + size
            if len(buf) < end:
                break
            block = bytes(buf[offset + _CHECKSUM_SIZE:end])
            expected = bytes(buf[offset:offset + _CHECKSUM_SIZE])
            actual = _checksum(block)
            if actual != expected:
                raise ClickHouseError(
                    CHECKSUM_DOESNT_MATCH,
                    "Checksum doesn't match: corrupted data. "
                    f"Reference: {_hex_checksum(expected)}. Actual: {_hex_checksum(actual)}. "
                    f"Size of compressed block: {size}",
                )
            payload = block[_HEADER_SIZE:]
            if method == _METHOD_LZ4:
                try:
                    out.append(lz4.block.decompress(payload, uncompressed_size=uncompressed))
                except lz4.block.LZ4BlockError as exc:
                    raise ClickHouseError(CANNOT_DECOMPRESS, f"Cannot decompress LZ4-encoded data: {exc}") from None
            elif method == _METHOD_NONE:
                out.append(payload)
            else:
                raise ClickHouseError(
                    UNKNOWN_COMPRESSION_METHOD,
                    f"Unknown compression method: {method:#04x} (this test server supports LZ4 and NONE)",
                )
            offset = end
        del buf[:offset]
        return b"".join(out)

    def finish(self) -> bytes:
        if self._buffer:
            raise ClickHouseError(
                CANNOT_READ_ALL_DATA,
                f"Cannot read all data: {len(self._buffer)} bytes of an incomplete compressed block at end of body",
            )
        return b""


def _hex_checksum(raw: bytes) -> str:
    high, low = struct.unpack("<QQ", raw)
    return f"({high:#018x}, {low:#018x})"


# --------------------------------------------------------------------------------------
# HTTP Content-Encoding (request bodies and responses)
# --------------------------------------------------------------------------------------


class _Lz4FrameStream:
    """Streaming decoder for a sequence of LZ4 frames (Content-Encoding: lz4)."""

    def __init__(self) -> None:
        self._decoder = lz4.frame.LZ4FrameDecompressor()

    def feed(self, data: bytes) -> bytes:
        out = []
        while data:
            out.append(self._decoder.decompress(data))
            if not self._decoder.eof:
                break
            data = self._decoder.unused_data
            self._decoder = lz4.frame.LZ4FrameDecompressor()
        return b"".join(out)

    def finish(self) -> bytes:
        return b""


class _StdlibStream:
    """Adapts a zlib/lzma/bz2 decompressor object to feed()/finish()."""

    def __init__(self, decompressor) -> None:
        self._decoder = decompressor

    def feed(self, data: bytes) -> bytes:
        return self._decoder.decompress(data)

    def finish(self) -> bytes:
        flush = getattr(self._decoder, "flush", None)
        return flush() if flush else b""


_REQUEST_DECODERS: dict[str, Callable[[], object]] = {
    "gzip": lambda: _StdlibStream(zlib.decompressobj(wbits=31)),
    "x-gzip": lambda: _StdlibStream(zlib.decompressobj(wbits=31)),
    "deflate": lambda: _StdlibStream(zlib.decompressobj()),
    "xz": lambda: _StdlibStream(lzma.LZMADecompressor()),
    "bz2": lambda: _StdlibStream(bz2.BZ2Decompressor()),
    "lz4": _Lz4FrameStream,
}


def choose_response_encoding(accept_encoding: str) -> Optional[str]:
    """Pick the response Content-Encoding ClickHouse would, among those supported here."""
    offered = {part.split(";")[0].strip().lower() for part in accept_encoding.split(",")}
    for name in ("gzip", "deflate", "lz4"):
        if name in offered:
            return name
    return None


def encode_response(body: bytes, encoding: str, level: int) -> bytes:
    if encoding == "gzip":
        compressor = zlib.compressobj(level, wbits=31)
        return compressor.compress(body) + compressor.flush()
    if encoding == "deflate":
        return zlib.compress(body, level)
    if encoding == "lz4":
        return lz4.frame.compress(body)
    raise AssertionError(encoding)


# --------------------------------------------------------------------------------------
# Just enough SQL lexing to split an INSERT from its data and to find a FORMAT clause
# --------------------------------------------------------------------------------------
# Texts are scanned as latin-1 strings so that offsets are byte offsets into the request.


class Token:
    __slots__ = ("kind", "start", "end", "depth", "text")

    def __init__(self, kind: str, start: int, end: int, depth: int, text: str):
        self.kind = kind  # "word", "quoted", "string" or "punct"
        self.start = start
        self.end = end
        self.depth = depth  # bracket nesting depth at the token
        self.text = text

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


_WORD_CHARS = re.compile(r"[A-Za-z0-9_$]+")


def tokens(text: str, start: int = 0) -> Iterator[Token]:
    """Yield SQL tokens, skipping whitespace and comments. Never raises."""
    pos, depth, size = start, 0, len(text)
    while pos < size:
        char = text[pos]
        if char in " \t\r\n\f\v":
            pos += 1
        elif text.startswith("--", pos) or text.startswith("# ", pos) or text.startswith("#!", pos):
            newline = text.find("\n", pos)
            pos = size if newline < 0 else newline + 1
        elif text.startswith("/*", pos):
            close = text.find("*/", pos + 2)
            pos = size if close < 0 else close + 2
        elif char in "'`\"":
            end = pos + 1
            while end < size:
                if text[end] == "\\":
                    end += 2
                elif text[end] == char:
                    if end + 1 < size and text[end + 1] == char:  # doubled quote
                        end += 2
                    else:
                        break
                else:
                    end += 1
            end = min(end + 1, size)
            yield Token("string" if char == "'" else "quoted", pos, end, depth, text[pos:end])
            pos = end
        else:
            match = _WORD_CHARS.match(text, pos)
            if match:
                yield Token("word", pos, match.end(), depth, match.group())
                pos = match.end()
            else:
                if char in ")]":
                    depth = max(depth - 1, 0)
                yield Token("punct", pos, pos + 1, depth, char)
                if char in "([":
                    depth += 1
                pos += 1


class InsertWithData:
    """`INSERT ... [SETTINGS ...] FORMAT name` followed by data at `data_start`."""

    def __init__(self, head: str, settings: str, format_name: str, data_start: int):
        self.head = head  # "INSERT INTO t (a, b)"
        self.settings = settings  # "SETTINGS x = 1" or ""
        self.format_name = format_name
        self.data_start = data_start

    def infile_sql(self, path: str) -> str:
        parts = [self.head, f"FROM INFILE {quote_string(path)} COMPRESSION 'none'"]
        if self.settings:
            parts.append(self.settings)
        parts.append(f"FORMAT {self.format_name}")
        return " ".join(parts)


def parse_insert_with_data(text: str) -> Optional[InsertWithData]:
    """If `text` starts an INSERT whose data follows a FORMAT clause, split it.

    Returns None for anything else, including INSERT ... VALUES / SELECT / FROM INFILE,
    which the engine runs as they are. Raises ClickHouseError for `FORMAT name;`.
    """
    stream = tokens(text)

    def next_token() -> Optional[Token]:
        return next(stream, None)

    token = next_token()
    if token is None or not token.is_word("INSERT"):
        return None
    token = next_token()
    if token is not None and token.is_word("INTO"):
        token = next_token()
    if token is not None and token.is_word("TABLE"):
        token = next_token()
    if token is not None and token.is_word("FUNCTION"):
        next_token()  # the function's name; its arguments are skipped below (depth 1)
        token = next_token()
    elif token is not None and token.kind in ("word", "quoted"):
        # Skip "[db.]table", so that a table called `format` is not taken for the clause.
        token = next_token()
        while token is not None and token.kind == "punct" and token.text == ".":
            next_token()
            token = next_token()
    settings_start = None
    while token is not None:
        if token.depth > 0:
            pass  # column list or table function arguments
        elif token.is_word("VALUES", "SELECT", "WITH", "FROM", "WATCH"):
            return None
        elif token.is_word("SETTINGS") and settings_start is None:
            settings_start = token.start
        elif token.is_word("FORMAT"):
            name = next_token()
            if name is None or name.kind not in ("word", "quoted"):
                return None
            data = name.end
            if data < len(text) and text[data] == ";":
                raise ClickHouseError(
                    SYNTAX_ERROR,
                    "You have excessive ';' symbol before data for INSERT. "
                    "Note that there is no ';' just after format name, "
                    "you need to put at least one whitespace symbol before the data.",
                )
            # Data starts after the first newline, if there is one, or after all the
            # whitespace characters otherwise (ClickHouse's ParserInsertQuery).
            while data < len(text) and text[data] in " \t\f":
                data += 1
            if data < len(text) and text[data] == "\r":
                data += 1
            if data < len(text) and text[data] == "\n":
                data += 1
            head_end = settings_start if settings_start is not None else token.start
            return InsertWithData(
                head=_sql_text(text[:head_end]).strip(),
                settings=_sql_text(text[head_end:token.start]).strip() if settings_start is not None else "",
                format_name=_sql_text(name.text),
                data_start=data,
            )
        token = next_token()
    return None


def statement_info(text: str) -> tuple[Optional[str], Optional[str], Optional[int]]:
    """First keyword, explicit output format, and the offset of a second statement if any."""
    first_word = None
    output_format = None
    second_statement = None
    items = list(tokens(text))
    ended_at = None
    for index, token in enumerate(items):
        if ended_at is not None:
            second_statement = token.start
            break
        if first_word is None and token.kind == "word":
            first_word = token.text.upper()
        if token.depth == 0 and token.kind == "punct" and token.text == ";":
            ended_at = token.start
        elif token.depth == 0 and token.is_word("FORMAT") and index + 1 < len(items):
            name = items[index + 1]
            after = items[index + 2] if index + 2 < len(items) else None
            if name.kind in ("word", "quoted") and (
                after is None or after.text == ";" or after.is_word("SETTINGS")
            ):
                output_format = name.text.strip("`\"")
    return first_word, output_format, second_statement


def _sql_text(latin1: str) -> str:
    """Back from the byte-preserving scan form to real (UTF-8) text."""
    return latin1.encode("latin-1").decode("utf-8", errors="replace")


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_identifier(value: str) -> str:
    return "`" + value.replace("\\", "\\\\").replace("`", "\\`") + "`"


# --------------------------------------------------------------------------------------
# The engine: one chdb session, one query at a time
# --------------------------------------------------------------------------------------


class QueryResult:
    __slots__ = ("body", "read_rows", "read_bytes", "written_rows", "written_bytes", "elapsed_ns")

    def __init__(self, result) -> None:
        self.body = result.bytes()
        self.read_rows = result.rows_read()
        self.read_bytes = result.bytes_read()
        self.written_rows = result.rows_written()
        self.written_bytes = result.bytes_written()
        self.elapsed_ns = int(result.elapsed() * 1e9)


class Engine:
    """Serializes all use of the chdb session, which is not thread safe.

    Each request runs as: USE its database; SET its settings; the query; then the
    settings are put back, so that nothing leaks into the next request.
    """

    def __init__(self, path: str, config_file: Optional[str] = None) -> None:
        self._session = chdb_session.Session(f"{path}?config-file={config_file}" if config_file else path)
        self._lock = threading.Lock()
        self.version = self._scalar("SELECT version()")
        self.timezone = self._scalar("SELECT timezone()")
        self.enable_http_compression = self._scalar("SELECT getSetting('enable_http_compression')") in ("1", "true")
        self.http_zlib_compression_level = int(self._scalar("SELECT getSetting('http_zlib_compression_level')"))
        # chdb starts with a few settings changed from ClickHouse's defaults; restoring a
        # setting means going back to these values, or to DEFAULT for all others.
        self._baseline = self._changed_settings()

    def _scalar(self, sql: str) -> str:
        return self._session.query(sql, "TabSeparatedRaw").bytes().decode().strip()

    def _changed_settings(self) -> dict[str, str]:
        rows = self._session.query("SELECT name, value FROM system.settings WHERE changed", "JSONCompactEachRow")
        return dict(json.loads(line) for line in rows.bytes().decode().splitlines() if line)

    def _restore(self, name: str) -> None:
        value = self._baseline.get(name)
        target = "DEFAULT" if value is None else quote_string(value)
        self._session.query(f"SET {quote_identifier(name)} = {target}")

    def execute(
        self,
        sql: str,
        output_format: str,
        database: str,
        settings: dict[str, str],
        params: dict[str, str],
        undo_set: bool = False,
    ) -> QueryResult:
        """Run one statement; `undo_set` also reverts what a SET statement changed."""
        with self._lock:
            applied: list[str] = []
            before = self._changed_settings() if undo_set else None
            try:
                self._use(database)
                for name, value in settings.items():
                    self._session.query(f"SET {quote_identifier(name)} = {quote_string(value)}")
                    applied.append(name)
                return QueryResult(self._session.query(sql, output_format, params=params))
            except Exception as exc:  # chdb raises ChdbError/RuntimeError with the engine's text
                raise error_from_chdb(exc) from None
            finally:
                self._undo(applied, before)

    def _use(self, database: str) -> None:
        """Makes `database` current; a server checks no grant for the `database` parameter, `USE` does."""
        try:
            self._session.query(f"USE {quote_identifier(database)}")
        except Exception as exc:
            if "ACCESS_DENIED" not in str(exc):
                raise

    def _undo(self, applied: list[str], before: Optional[dict[str, str]]) -> None:
        """Put back the settings a request applied, and what a SET statement changed."""
        for name in applied:
            self._try(self._restore, name)
        if before is not None:
            for name, value in self._changed_settings().items():
                if before.get(name) == value:
                    continue
                if name in before:
                    self._try(self._session.query, f"SET {quote_identifier(name)} = {quote_string(before[name])}")
                else:
                    self._try(self._restore, name)

    @staticmethod
    def _try(action: Callable, argument: str) -> None:
        try:
            action(argument)
        except Exception as exc:  # keep serving; the next requests may see a changed setting
            log(f"warning: could not restore a setting ({argument}): {exc}")

    def close(self) -> None:
        with self._lock:
            self._session.close()


# --------------------------------------------------------------------------------------
# HTTP front
# --------------------------------------------------------------------------------------

# Parameters ClickHouse's HTTP handler takes for itself rather than as settings
# (HTTPHandler.cpp reserved_param_names), plus `query`. They are accepted and, apart
# from those used below, ignored. `readonly` is ignored too: once set in the shared
# session it could not be unset.
_RESERVED_PARAMS = {
    "query", "compress", "decompress", "user", "password", "quota_key", "query_id", "stacktrace", "role",
    "buffer_size", "wait_end_of_query", "session_id", "session_timeout", "session_check",
    "client_protocol_version", "close_session", "database", "default_format", "readonly",
}
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BODY_READ_SIZE = 1 << 20


def content_type_for(format_name: str) -> str:
    name = format_name.lower()
    if name.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if name.startswith("csv"):
        header = "present" if "withnames" in name else "absent"
        return f"text/csv; charset=UTF-8; header={header}"
    if name.startswith("json") or name == "ndjson":
        return "application/json; charset=UTF-8"
    if name.startswith("xml"):
        return "application/xml; charset=UTF-8"
    if name.startswith(("rowbinary", "native", "parquet", "arrow", "orc", "avro", "protobuf", "msgpack", "capnproto", "npy", "bson")):
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"


def log(message: str) -> None:
    sys.stderr.write(f"[clickhouse_http] {message}\n")
    sys.stderr.flush()


class ClickHouseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    engine: Engine  # set on the subclass made by make_server()
    scratch_dir: str

    # ---- request entry points --------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def version_string(self) -> str:
        return f"ClickHouse {self.engine.version} (chdb test front)"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - base-class signature
        pass  # one line per request is written by _dispatch instead

    def _dispatch(self) -> None:
        started = time.monotonic()
        self._query_id = ""
        self._params: dict[str, str] = {}
        self._raw_body: Optional[Iterator[bytes]] = None
        self._log_sql = ""
        self._log_error = ""
        status = 200
        try:
            url = urlsplit(self.path)
            if url.path in ("/ping", "/replicas_status"):
                self._drain()
                self._send(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
            elif url.path in ("/", ""):
                status = self._handle_query(parse_qsl(url.query, keep_blank_values=True))
            else:
                self._drain()
                status = 404
                self._send(404, f"There is no handle {url.path}\n\nUse / or /ping for health checks.\n".encode(), {
                    "Content-Type": "text/plain; charset=UTF-8",
                })
        except BodyFramingError as exc:
            status = 400
            self.close_connection = True
            self._send_error(ClickHouseError(CANNOT_READ_ALL_DATA, f"Malformed HTTP request body: {exc}"))
        except ClickHouseError as exc:
            status = exc.http_status
            self._drain()
            self._send_error(exc)
        except Exception as exc:  # a bug here must not kill the server or the connection
            status = 500
            log(f"internal error:\n{traceback.format_exc()}")
            self._drain()
            self._send_error(ClickHouseError(POCO_EXCEPTION, f"{type(exc).__name__}: {exc}"))
        elapsed = (time.monotonic() - started) * 1000
        log(f"{status} {self.command} {elapsed:.1f}ms {self._log_sql[:160]!r}{self._log_error}")

    # ---- the query endpoint ----------------------------------------------------------

    def _handle_query(self, pairs: list[tuple[str, str]]) -> int:
        params = self._params = dict(pairs)  # the last of repeated parameters wins, as in ClickHouse
        content_type = self.headers.get("Content-Type", "")
        self._query_id = params.get("query_id") or str(uuid.uuid4())
        self._raw_body = self._iter_raw_body()

        # A multipart body is a form whose fields add to the URL parameters; any other body
        # continues the query text.
        body_follows = not content_type.lower().startswith("multipart/form-data")
        if not body_follows:
            params.update(self._read_form(content_type, params))
        query_param = self._log_sql = params.get("query", "")

        database = self.headers.get("X-ClickHouse-Database") or params.get("database") or "default"
        default_format = self.headers.get("X-ClickHouse-Format") or params.get("default_format") or "TabSeparated"
        query_params = {name[len("param_"):]: value for name, value in params.items() if name.startswith("param_")}
        settings = {}
        for name, value in params.items():
            if name in _RESERVED_PARAMS or name.startswith("param_") or not name:
                continue
            if not _SETTING_NAME.match(name):
                raise ClickHouseError(UNKNOWN_SETTING, f"Unknown setting '{name}'")
            settings[name] = value
        decompress = params.get("decompress", "0") not in ("0", "", "false")

        # ClickHouse's query text is: the query parameter, a newline, then the body.
        insert = None
        prefix = ""
        if query_param:
            prefix = _latin1(query_param.encode()) + "\n"
            insert = parse_insert_with_data(prefix)
        if insert is not None and body_follows:
            data_path = self._spool(prefix[insert.data_start:].encode("latin-1"), decompress)
            return self._run_insert(insert, data_path, database, settings, query_params)

        body = _latin1(self._read_all(decompress)) if body_follows else ""
        if query_param:
            text = prefix + body if body else prefix[:-1]
        else:
            text = body
            self._log_sql = _sql_text(text[:200])
            insert = parse_insert_with_data(text)
        if insert is not None:
            data_path = self._write_scratch(text[insert.data_start:].encode("latin-1"))
            return self._run_insert(insert, data_path, database, settings, query_params)
        return self._run_query(text, default_format, database, settings, query_params)

    def _run_query(
        self, text: str, default_format: str, database: str, settings: dict[str, str], query_params: dict[str, str]
    ) -> int:
        first_word, explicit_format, second_statement = statement_info(text)
        self._log_sql = _sql_text(text)
        if first_word is None:
            raise ClickHouseError(SYNTAX_ERROR, "Empty query")
        if second_statement is not None:
            raise ClickHouseError(
                SYNTAX_ERROR,
                f"Syntax error (Multi-statements are not allowed): failed at position {second_statement + 1}",
            )
        output_format = explicit_format or default_format
        result = self.engine.execute(
            _sql_text(text), default_format, database, settings, query_params, undo_set=first_word == "SET"
        )
        self._send_result(result, output_format, settings)
        return 200

    def _run_insert(
        self, insert: InsertWithData, data_path: str, database: str, settings: dict[str, str],
        query_params: dict[str, str],
    ) -> int:
        try:
            size = os.path.getsize(data_path)
            self._log_sql = f"{insert.infile_sql('<file>')} ({size} bytes)"
            result = self.engine.execute(
                insert.infile_sql(data_path), "TabSeparated", database, settings, query_params
            )
        finally:
            os.unlink(data_path)
        self._send_result(result, "TabSeparated", settings)
        return 200

    # ---- request bodies --------------------------------------------------------------

    def _iter_raw_body(self) -> Iterator[bytes]:
        """The request body as sent: Content-Length bytes or decoded chunked encoding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(65537)
                if not line.endswith(b"\n"):
                    raise BodyFramingError("truncated chunk header")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise BodyFramingError(f"bad chunk size line {line[:40]!r}") from None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers are ignored
                    return
                while size:
                    data = self.rfile.read(min(size, _BODY_READ_SIZE))
                    if not data:
                        raise BodyFramingError("connection closed inside a chunk")
                    size -= len(data)
                    yield data
                if self.rfile.readline(65537) not in (b"\r\n", b"\n"):
                    raise BodyFramingError("missing CRLF after chunk")
        else:
            try:
                remaining = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                raise BodyFramingError("bad Content-Length") from None
            while remaining > 0:
                data = self.rfile.read(min(remaining, _BODY_READ_SIZE))
                if not data:
                    raise BodyFramingError("connection closed before Content-Length bytes")
                remaining -= len(data)
                yield data

    def _iter_body(self, decompress: bool) -> Iterator[bytes]:
        """The body with Content-Encoding undone, then ClickHouse block framing if asked."""
        raw = self._raw_body if self._raw_body is not None else iter(())
        decoders = []
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        if encoding and encoding != "identity":
            factory = _REQUEST_DECODERS.get(encoding)
            if factory is None:
                raise ClickHouseError(
                    UNKNOWN_COMPRESSION_METHOD,
                    f"Unknown Content-Encoding of HTTP request: {encoding} (this test server supports "
                    f"{', '.join(sorted(_REQUEST_DECODERS))})",
                )
            decoders.append(factory())
        if decompress:
            decoders.append(NativeDecompressor())
        for chunk in raw:
            for decoder in decoders:
                chunk = decoder.feed(chunk)
            if chunk:
                yield chunk
        tail = b""
        for decoder in decoders:
            tail = decoder.feed(tail) + decoder.finish() if tail else decoder.finish()
        if tail:
            yield tail

    def _read_all(self, decompress: bool) -> bytes:
        return b"".join(self._iter_body(decompress))

    def _spool(self, prefix: bytes, decompress: bool) -> str:
        """Stream `prefix` + body into a scratch file; returns its path."""
        fd, path = tempfile.mkstemp(dir=self.scratch_dir, suffix=".data")
        try:
            with os.fdopen(fd, "wb") as sink:
                sink.write(prefix)
                for chunk in self._iter_body(decompress):
                    sink.write(chunk)
        except BaseException:
            os.unlink(path)
            raise
        return path

    def _write_scratch(self, data: bytes) -> str:
        fd, path = tempfile.mkstemp(dir=self.scratch_dir, suffix=".data")
        with os.fdopen(fd, "wb") as sink:
            sink.write(data)
        return path

    def _drain(self) -> None:
        """Consume what is left of the request body so the connection stays usable."""
        if self._raw_body is None:
            self._raw_body = self._iter_raw_body()
        try:
            for _ in self._raw_body:
                pass
        except BodyFramingError:
            self.close_connection = True

    def _read_form(self, content_type: str, params: dict[str, str]) -> dict[str, str]:
        """Fields of a multipart/form-data body; files (external tables) are refused."""
        match = re.search(r'boundary="?([^";]+)"?', content_type)
        if not match:
            raise ClickHouseError(BAD_REQUEST_PARAMETER, "multipart/form-data without boundary")
        body = self._read_all(params.get("decompress", "0") not in ("0", "", "false"))
        delimiter = b"--" + match.group(1).encode()
        fields: dict[str, str] = {}
        for part in body.split(delimiter)[1:]:
            if part.startswith(b"--"):
                break
            part = part[2:] if part.startswith(b"\r\n") else part
            part = part[:-2] if part.endswith(b"\r\n") else part
            head, _, value = part.partition(b"\r\n\r\n")
            disposition = next(
                (line for line in head.decode("latin-1").split("\r\n") if line.lower().startswith("content-disposition")),
                "",
            )
            name = re.search(r'\bname="([^"]*)"', disposition)
            if re.search(r'\bfilename="', disposition):
                raise ClickHouseError(NOT_IMPLEMENTED, "External tables (multipart files) are not supported by this test server")
            if name:
                fields[name.group(1)] = value.decode("utf-8", errors="replace")
        return fields

    # ---- responses -------------------------------------------------------------------

    def _send_result(self, result: QueryResult, output_format: str, settings: dict[str, str]) -> None:
        body = result.body
        headers = {
            "Content-Type": content_type_for(output_format),
            "X-ClickHouse-Format": output_format,
            "X-ClickHouse-Summary": json.dumps({
                "read_rows": str(result.read_rows),
                "read_bytes": str(result.read_bytes),
                "written_rows": str(result.written_rows),
                "written_bytes": str(result.written_bytes),
                "total_rows_to_read": str(result.read_rows),
                "result_rows": "0",
                "result_bytes": str(len(body)),
                "elapsed_ns": str(result.elapsed_ns),
                "memory_usage": "0",
            }, separators=(",", ":")),
        }
        if body and self._params.get("compress", "0") not in ("0", "", "false"):
            body = compress_native(body)
        enabled = settings.get("enable_http_compression")
        http_compression = self.engine.enable_http_compression if enabled is None else enabled in ("1", "true")
        encoding = choose_response_encoding(self.headers.get("Accept-Encoding", "")) if http_compression else None
        if body and encoding:
            level = int(settings.get("http_zlib_compression_level", self.engine.http_zlib_compression_level))
            body = encode_response(body, encoding, level)
            headers["Content-Encoding"] = encoding
        self._send(200, body, headers)

    def _send_error(self, error: ClickHouseError) -> None:
        text = error.render(self.engine.version)
        self._log_error = f" -> {text[:300]}"
        self._send(error.http_status, (text + "\n").encode(), {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Exception-Code": str(error.code),
        })

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        if self._query_id:
            self.send_header("X-ClickHouse-Query-Id", self._query_id)
        self.send_header("X-ClickHouse-Server-Display-Name", "chdb")
        self.send_header("X-ClickHouse-Timezone", self.engine.timezone)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        try:
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:  # the client went away (e.g. it aborted an insert); nothing to tell it
            self.close_connection = True


def _latin1(data: bytes) -> str:
    return data.decode("latin-1")


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


def make_server(host: str, port: int, engine: Engine, scratch_dir: str) -> ThreadingHTTPServer:
    handler = type("Handler", (ClickHouseHandler,), {"engine": engine, "scratch_dir": scratch_dir})
    return _Server((host, port), handler)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port; 0 picks a free one")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", help="persistent engine directory (default: a temporary one)")
    parser.add_argument("--config-file", help="server config the engine loads (its users.xml: user default's grants)")
    parser.add_argument(
        "--exit-with-parent", action="store_true", help="stop when the process that started this one exits"
    )
    args = parser.parse_args(argv)

    owned_dir = None
    if args.data_dir:
        os.makedirs(args.data_dir, exist_ok=True)
        data_dir = os.path.abspath(args.data_dir)
    else:
        data_dir = owned_dir = tempfile.mkdtemp(prefix="clickhouse-http-data-")
    scratch_dir = tempfile.mkdtemp(prefix="clickhouse-http-scratch-")

    engine = Engine(data_dir, os.path.abspath(args.config_file) if args.config_file else None)
    server = make_server(args.host, args.port, engine, scratch_dir)

    def stop(signum, _frame) -> None:
        log(f"signal {signum}: stopping")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.exit_with_parent:
        # Test binaries start one front each and never stop it: follow them out instead of lingering.
        parent = os.getppid()

        def watch_parent() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            log("parent exited: stopping")
            server.shutdown()

        threading.Thread(target=watch_parent, daemon=True).start()

    print(f"LISTENING {server.server_address[1]}", flush=True)
    log(f"ClickHouse {engine.version} (chdb) on {args.host}:{server.server_address[1]}, data in {data_dir}")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        engine.close()
        shutil.rmtree(scratch_dir, ignore_errors=True)
        if owned_dir:
            shutil.rmtree(owned_dir, ignore_errors=True)
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
