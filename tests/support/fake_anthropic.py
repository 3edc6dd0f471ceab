#!/usr/bin/env python3
"""fake_anthropic.py - a scripted, deterministic stand-in for the Anthropic Messages API.

Point the real Claude Code CLI at it with ``ANTHROPIC_BASE_URL=http://127.0.0.1:<port>`` (any
``ANTHROPIC_API_KEY`` is accepted) and the CLI runs a conversation whose every turn and every token
count is known in advance, so that the OpenTelemetry it exports can be checked exactly.

Usage:
    python fake_anthropic.py --port 0 [--host 127.0.0.1] [--dump-dir DIR]

The first line on stdout is ``LISTENING <port>`` (flushed); the log goes to stderr. ``--dump-dir``
writes every request (method, path, headers, JSON body) to DIR, numbered, for debugging.

Script
------
The model's behaviour is read from the *task prompt* of each conversation: the text of the first
user message, minus the ``<system-reminder>`` blocks the CLI prepends and, for a slash command
(``claude -p "/develop ARGS"``), minus its ``<command-message|name|args>`` blocks (the command's
text, which follows them with ``$ARGUMENTS`` filled in, is the prompt: directives given as arguments
play once). Directives in it are played in
order, one per assistant turn (turn k = number of assistant messages already in the request):

    [[bash:COMMAND]]           a tool_use of ``Bash`` with {"command": COMMAND, "description": ...}
    [[agent:TYPE:PROMPT]]      a tool_use of ``Agent`` with {"subagent_type": TYPE, "prompt": PROMPT,
                               "description": ..., "run_in_background": false}; TYPE is a built-in
                               agent (general-purpose, Explore, Plan, ...) or a custom one defined in
                               .claude/agents/TYPE.md. PROMPT may itself hold directives (brackets nest),
                               they are played by the subagent, whose task prompt PROMPT is.

After the last directive the model answers with a text block and ``end_turn``. A prompt without
directives gets that text answer at once. So a conversation with n directives costs n+1 requests, and
a subagent's requests come between the main loop's Agent tool_use and its next request. Commands and
prompts must not contain ``[[`` or ``]]`` of their own. ``fork`` is not a usable TYPE (a fork replays
its parent's conversation, hence its directives).

Who is asking: a request with the CLI's ``x-claude-code-agent-id`` header (or ``cc_is_subagent=true``
in its system prompt) is a ``subagent`` one, its type known from the Agent call that handed it its
prompt; any other request offering tools is the ``main`` loop; a request without tools is a ``side``
request (title, summary, ...; none were seen with Claude Code 2.1.331 in ``-p`` mode, see README.md),
answered with a short text and not scripted.

Usage reported by every response (what Claude Code turns into api_request events):
    input_tokens=1200, cache_read_input_tokens=5000, cache_creation_input_tokens=300 and
    output_tokens = 40 for a Bash tool_use turn, 60 for an Agent tool_use turn, 25 for a final text
    turn, 10 for a side request.
These are the figures of tests/fixtures/claude-code-2.1.331. Responses are streamed as SSE
(message_start, content_block_start/delta/stop with text_delta or input_json_delta, message_delta
with the stop_reason and output_tokens, message_stop) when the request has ``"stream": true``, else
returned as one JSON message.

Control endpoints (not part of the Anthropic API):
    GET  /_requests[?session_id=S]
                      JSON list of the requests served so far (all, or those of one CLI session), in
                      arrival order. Every entry has seq, request_id, time, method, path, status and
                      billed. The /v1/messages entries (billed=true) also have model, stream,
                      session_id, role (main | subagent | side), agent_type (the subagent_type of the
                      Agent call that started a subagent conversation, else null), agent_id (the CLI's
                      id of that subagent), turn, response (text | tool_use:Bash | tool_use:Agent |
                      side), tool_use_id, usage (the figures returned) and prompt (the task prompt, cut
                      at 200 characters). request_id is also sent as the ``request-id`` response
                      header, which the CLI reports as ``request_id`` on its api_request event: the
                      join key between the two. A test sums ``usage`` over the billed entries to know
                      what the CLI must have reported.
    POST /_reset      forget the recorded requests (and any usage set with /_usage).
    POST /_usage      report this usage from now on instead of the fixed figures: a JSON object with any of
                      input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens and
                      cache_creation ({"ephemeral_5m_input_tokens": N, "ephemeral_1h_input_tokens": N}, the
                      API's split of cache writes by TTL); keys left out keep their fixed value. An empty
                      object restores the fixed figures. Used to learn the CLI's price per token type.

Other API endpoints: POST /v1/messages/count_tokens answers {"input_tokens": 1200} (not billed),
HEAD/GET /api/hello (the CLI's connectivity probe) answers 200; anything else is logged to stderr
and answered 404 with an Anthropic-style error body.

Only the standard library is used.
"""

import argparse
import gzip
import http.server
import itertools
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse

INPUT_TOKENS = 1200
CACHE_READ_TOKENS = 5000
CACHE_CREATION_TOKENS = 300
OUTPUT_TOKENS = {"tool_use:Bash": 40, "tool_use:Agent": 60, "text": 25, "side": 10}

FINAL_TEXT = "Scripted answer done"  # 20 characters, as in the fixtures
SIDE_TEXT = "Scripted side answer"

SYSTEM_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.S)
# A slash command's first user message carries its name and raw arguments in these blocks, then the command's
# text with $ARGUMENTS filled in: the arguments must be played once, from the text.
COMMAND_METADATA = re.compile(r"<command-(message|name|args)>.*?</command-\1>", re.S)


# --------------------------------------------------------------------------------------------------
# Script: directives and conversation analysis


def parse_directives(text):
    """Top-level ``[[kind:...]]`` directives of ``text`` as (kind, argument) pairs, in order.

    Brackets nest, so ``[[agent:reviewer:do [[bash:ls]] then stop]]`` is one agent directive whose
    argument is ``reviewer:do [[bash:ls]] then stop``. Unknown kinds are ignored.
    """
    directives = []
    i = 0
    while True:
        start = text.find("[[", i)
        if start < 0:
            return directives
        depth, j = 0, start
        while j < len(text) - 1:
            pair = text[j : j + 2]
            if pair == "[[":
                depth += 1
                j += 2
            elif pair == "]]":
                depth -= 1
                j += 2
                if depth == 0:
                    break
            else:
                j += 1
        if depth != 0:  # unbalanced: no more directives
            return directives
        body = text[start + 2 : j - 2]
        kind, _, argument = body.partition(":")
        if kind in ("bash", "agent"):
            directives.append((kind, argument))
        i = j


def content_blocks(message):
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content or []


def task_prompt(messages):
    """The task prompt of a conversation: the first user message's text without system reminders."""
    for message in messages:
        if message.get("role") != "user":
            continue
        texts = [b.get("text", "") for b in content_blocks(message) if b.get("type") == "text"]
        return COMMAND_METADATA.sub("", SYSTEM_REMINDER.sub("", "\n".join(texts))).strip()
    return ""


def system_text(body):
    system = body.get("system") or ""
    if isinstance(system, list):
        return "\n".join(b.get("text", "") for b in system if isinstance(b, dict))
    return system


class Script:
    """Decides each response and remembers which prompts were handed to subagents."""

    def __init__(self, instance):
        self.instance = instance  # random tag that keeps tool_use ids unique across fakes
        self.lock = threading.Lock()
        # (session id, prompt) -> subagent_type, filled by the Agent tool_uses we emit
        self.subagent_prompts = {}
        self.tool_ids = itertools.count(1)

    def reset(self):
        with self.lock:
            self.subagent_prompts.clear()

    def respond(self, body, session_id, agent_id):
        """The (decision, content_block) for one /v1/messages request.

        ``session_id`` and ``agent_id`` are the CLI's ``X-Claude-Code-Session-Id`` (same for a session's
        main loop and its subagents) and ``x-claude-code-agent-id`` (sent by subagents only) headers.
        decision is a dict of the fields recorded for /_requests: role, agent_type, agent_id, turn,
        response, tool_use_id.
        """
        messages = body.get("messages") or []
        prompt = task_prompt(messages)
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        with self.lock:
            agent_type = self.subagent_prompts.get((session_id, prompt))
        if agent_id or agent_type is not None or "cc_is_subagent=true" in system_text(body):
            role = "subagent"
        elif body.get("tools"):
            role = "main"
        else:
            role = "side"
        decision = {
            "role": role,
            "agent_type": agent_type,
            "agent_id": agent_id,
            "turn": turn,
            "tool_use_id": None,
        }
        if role == "side":
            decision["response"] = "side"
            return decision, {"type": "text", "text": SIDE_TEXT}

        directives = parse_directives(prompt)
        if turn >= len(directives):
            decision["response"] = "text"
            return decision, {"type": "text", "text": FINAL_TEXT}

        kind, argument = directives[turn]
        with self.lock:
            tool_use_id = f"toolu_fake_{self.instance}_{next(self.tool_ids):02d}"
        decision["tool_use_id"] = tool_use_id
        if kind == "bash":
            decision["response"] = "tool_use:Bash"
            tool_input = {"command": argument, "description": "Run the scripted command"}
            return decision, {"type": "tool_use", "id": tool_use_id, "name": "Bash", "input": tool_input}

        subagent_type, _, subprompt = argument.partition(":")
        subprompt = subprompt.strip()
        with self.lock:
            self.subagent_prompts[(session_id, subprompt)] = subagent_type
        decision["response"] = "tool_use:Agent"
        tool_input = {
            "description": f"Scripted {subagent_type} task",
            "prompt": subprompt,
            "subagent_type": subagent_type,
            "run_in_background": False,
        }
        return decision, {"type": "tool_use", "id": tool_use_id, "name": "Agent", "input": tool_input}


# --------------------------------------------------------------------------------------------------
# Responses


def usage(output_tokens, override=None):
    """The usage block of a response: the fixed figures, or those set with ``POST /_usage``."""
    figures = {
        "input_tokens": INPUT_TOKENS,
        "cache_creation_input_tokens": CACHE_CREATION_TOKENS,
        "cache_read_input_tokens": CACHE_READ_TOKENS,
        "output_tokens": output_tokens,
    }
    figures.update(override or {})
    return figures


def message_json(message_id, model, block, output_tokens, override=None):
    stop_reason = "tool_use" if block["type"] == "tool_use" else "end_turn"
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage(output_tokens, override),
    }


def sse_events(message_id, model, block, output_tokens, override=None):
    """The server-sent events of a streamed response with one content block."""
    # message_start reports 1 output token so far; message_delta carries the final count.
    start_usage = {k: v for k, v in (override or {}).items() if k != "output_tokens"}
    start = message_json(message_id, model, block, 1, start_usage)
    start.update(content=[], stop_reason=None)
    yield "message_start", {"type": "message_start", "message": start}
    if block["type"] == "text":
        yield "content_block_start", {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        yield "content_block_delta", {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": block["text"]},
        }
    else:
        yield "content_block_start", {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}},
        }
        yield "content_block_delta", {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
        }
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    stop_reason = "tool_use" if block["type"] == "tool_use" else "end_turn"
    yield "message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": output_tokens},
    }
    yield "message_stop", {"type": "message_stop"}


# --------------------------------------------------------------------------------------------------
# HTTP server


class FakeAnthropicHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-anthropic/1"

    # -- dispatch ----------------------------------------------------------------------------------

    def do_POST(self):
        body = self._read_json()
        path = self._path()
        if path == "/_reset":
            self.server.reset()
            self._json(200, {})
            return
        if path == "/_usage":
            if not isinstance(body, (dict, type(None))):
                self._json(400, error_body("invalid_request_error", "expected a JSON object"))
                return
            self.server.usage_override = dict(body or {})
            self._json(200, self.server.usage_override)
            return
        self.server.dump(self, body)
        if path == "/v1/messages":
            self._messages(body)
        elif path == "/v1/messages/count_tokens":
            self.server.record({"method": "POST", "path": path, "billed": False, "status": 200})
            self._json(200, {"input_tokens": INPUT_TOKENS})
        else:
            self._unknown(body)

    def do_GET(self):
        path = self._path()
        if path == "/_requests":
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            self._json(200, self.server.snapshot(session_id=(query.get("session_id") or [None])[0]))
            return
        self.server.dump(self, None)
        if path == "/api/hello":
            self.server.record({"method": "GET", "path": path, "billed": False, "status": 200})
            self._json(200, {})
        else:
            self._unknown(None)

    def do_HEAD(self):
        path = self._path()
        self.server.dump(self, None)
        status = 200 if path in ("/", "/api/hello") else 404
        if status == 404:
            log(f"unknown request HEAD {self.path}")
        self.server.record({"method": "HEAD", "path": path, "billed": False, "status": status})
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self):
        self._unknown(self._read_json())

    do_DELETE = do_PATCH = do_PUT

    # -- endpoints ---------------------------------------------------------------------------------

    def _messages(self, body):
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._json(400, error_body("invalid_request_error", "expected a Messages API request"))
            return
        session_id = self.headers.get("X-Claude-Code-Session-Id")
        agent_id = self.headers.get("x-claude-code-agent-id")
        decision, block = self.server.script.respond(body, session_id, agent_id)
        override = self.server.usage_override
        output_tokens = override.get("output_tokens", OUTPUT_TOKENS[decision["response"]])
        model = body.get("model", "")
        stream = bool(body.get("stream"))
        entry = self.server.record(
            {
                "method": "POST",
                "path": "/v1/messages",
                "billed": True,
                "status": 200,
                "model": model,
                "stream": stream,
                "session_id": session_id,
                **decision,
                "usage": usage(output_tokens, override),
                "prompt": task_prompt(body["messages"])[:200],
            }
        )
        who = decision["role"] + (f"({decision['agent_type']})" if decision["agent_type"] else "")
        log(f"{entry['request_id']} {model} {who} turn {decision['turn']} -> {decision['response']}"
            f" ({output_tokens} output tokens)")
        message_id = entry["request_id"].replace("req_", "msg_", 1)
        headers = {"request-id": entry["request_id"]}
        if not stream:
            self._json(200, message_json(message_id, model, block, output_tokens, override), headers)
            return
        payload = "".join(
            f"event: {name}\ndata: {json.dumps(data)}\n\n"
            for name, data in sse_events(message_id, model, block, output_tokens, override)
        ).encode()
        self._send(200, payload, "text/event-stream", {"Cache-Control": "no-cache", **headers})

    def _unknown(self, body):
        log(f"unknown request {self.command} {self.path} body={json.dumps(body)[:300]}")
        self.server.record({"method": self.command, "path": self._path(), "billed": False, "status": 404})
        self._json(404, error_body("not_found_error", f"fake_anthropic: no route {self.command} {self.path}"))

    # -- helpers -----------------------------------------------------------------------------------

    def _path(self):
        return urllib.parse.urlsplit(self.path).path

    def _read_json(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
            raw = gzip.decompress(raw)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _json(self, status, data, headers=None):
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def _send(self, status, payload, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        pass


def error_body(error_type, message):
    return {"type": "error", "error": {"type": error_type, "message": message}}


class FakeAnthropicServer(http.server.ThreadingHTTPServer):
    """The HTTP server; holds the script and the record of requests served."""

    daemon_threads = True

    def __init__(self, address, dump_dir=None):
        super().__init__(address, FakeAnthropicHandler)
        # Request ids must be unique across fakes and resets, as real ones are: the CLI reports
        # them as request_id on its api_request events, and a sink may key rows on them.
        self.instance = secrets.token_hex(4)
        self.script = Script(self.instance)
        self.lock = threading.Lock()
        self.requests = []
        self.usage_override = {}
        self.request_count = itertools.count(1)
        self.dump_dir = dump_dir
        self.dump_count = itertools.count(1)

    def record(self, entry):
        """Append ``entry`` to the record, with seq, request_id and time added; returns it."""
        with self.lock:
            n = next(self.request_count)
            entry = {
                "seq": len(self.requests) + 1,
                "request_id": f"req_fake_{self.instance}_{n:04d}",
                "time": time.time(),
                **entry,
            }
            self.requests.append(entry)
        return entry

    def snapshot(self, session_id=None):
        with self.lock:
            return [r for r in self.requests if session_id is None or r.get("session_id") == session_id]

    def reset(self):
        with self.lock:
            self.requests.clear()
        self.usage_override = {}
        self.script.reset()

    def dump(self, handler, body):
        if not self.dump_dir:
            return
        n = next(self.dump_count)
        name = re.sub(r"[^A-Za-z0-9]+", "_", handler.path).strip("_")[:60]
        with open(os.path.join(self.dump_dir, f"{n:03d}-{handler.command}-{name}.json"), "w") as f:
            record = {"method": handler.command, "path": handler.path, "headers": dict(handler.headers)}
            json.dump({**record, "body": body}, f, indent=1)


def log(message):
    print(f"fake_anthropic: {message}", file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dump-dir", help="write every request (headers and body) to this directory")
    args = parser.parse_args()
    if args.dump_dir:
        os.makedirs(args.dump_dir, exist_ok=True)
    server = FakeAnthropicServer((args.host, args.port), dump_dir=args.dump_dir)
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
