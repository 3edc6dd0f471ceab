#!/usr/bin/env python3
"""A recording stand-in for Beads' `bd`, for tests of `tokenledger beads post` (bd itself cannot be installed
here: its npm package downloads the binary at install time).

Installed as `bd` on PATH by the test. State lives in $RECORDING_BD_DIR:
- `issues.jsonl`: the issues, in Beads' own JSONL export format (tests/fixtures/beads/issues.jsonl); comments
  are kept in each issue's `comments` array, as `bd export` writes them;
- `calls.jsonl`: one line per invocation, {"argv": [...]}, appended before anything else happens.

Understood, exactly as bd spells them (cmd/bd/comment.go, cmd/bd/comments.go), with bd's global flags
`--actor X` / `--db X` allowed first:
- `bd comments ID --json`: the issue's comments, pretty-printed like bd's outputJSON (a JSON array; with
  BD_JSON_ENVELOPE=1 the {"schema_version": 1, "data": [...]} envelope);
- `bd comment ID TEXT`: adds a comment (text must be one argument and not blank).
Anything else exits 2 with "recording bd: unexpected arguments"; an unknown issue exits 1 with bd's message.
"""

import datetime
import json
import os
import sys


def fail(code: int, message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(code)


def main() -> None:
    state = os.environ.get("RECORDING_BD_DIR") or fail(2, "recording bd: RECORDING_BD_DIR is not set")
    argv = sys.argv[1:]
    with open(os.path.join(state, "calls.jsonl"), "a", encoding="utf-8") as calls:
        calls.write(json.dumps({"argv": argv}) + "\n")

    args = list(argv)
    actor = "recording-bd"
    while args[:1] in (["--actor"], ["--db"]) and len(args) >= 2:
        if args[0] == "--actor":
            actor = args[1]
        args = args[2:]

    path = os.path.join(state, "issues.jsonl")
    with open(path, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    issues = {line["id"]: line for line in lines if line.get("_type", "issue") == "issue"}

    if len(args) == 3 and args[0] == "comments" and args[2] == "--json":
        issue = issues.get(args[1]) or fail(1, f"Error: resolving {args[1]}: issue {args[1]} not found")
        comments = issue.get("comments") or []
        out = {"schema_version": 1, "data": comments} if os.environ.get("BD_JSON_ENVELOPE") == "1" else comments
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return
    if len(args) == 3 and args[0] == "comment":
        issue = issues.get(args[1]) or fail(1, f"Error: resolving {args[1]}: issue {args[1]} not found")
        if not args[2].strip():
            fail(1, "Error: comment text cannot be empty")
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        comments = issue.setdefault("comments", [])
        comments.append({"id": f"c{len(comments) + 1}", "issue_id": args[1], "author": actor,
                         "text": args[2], "created_at": now})
        issue["comment_count"] = len(comments)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            for line in lines:
                f.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n")
        os.replace(path + ".tmp", path)
        print(f"✓ Comment added to {args[1]}")
        return
    fail(2, f"recording bd: unexpected arguments {argv!r}")


if __name__ == "__main__":
    main()
