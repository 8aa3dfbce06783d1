#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets from the repository's fixtures.

    python3 fuzz/make_seeds.py OUT_DIR      # OUT_DIR/<target>/<name>, one input per file

The committed corpora (fuzz/corpus/<target>/) are these seeds plus what the fuzzers found,
minimized with `cargo fuzz cmin` (docs/FUZZING.md). Rerun this only to start afresh.
"""

import glob
import hashlib
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MAX_SEED = 16 * 1024  # larger fixtures only slow the fuzzers down


def fixture(*parts):
    return os.path.join(ROOT, "fixtures", *parts)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def canonical(value):
    """RFC 8785 for the values of the fixtures (ASCII member names, integers only)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Out:
    def __init__(self, base, target):
        self.dir = os.path.join(base, target)
        os.makedirs(self.dir, exist_ok=True)
        self.count = 0

    def add(self, data):
        if not data or len(data) > MAX_SEED:
            return
        name = hashlib.sha1(data).hexdigest()
        path = os.path.join(self.dir, name)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
            self.count += 1


def lines_of(path):
    return [l for l in read(path).split(b"\n") if l]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    base = sys.argv[1]
    ledger = read(fixture("vectors", "ledger.jsonl"))
    vector_lines = lines_of(fixture("vectors", "ledger.jsonl"))
    treaty = json.loads(read(fixture("treaties", "test-3-instruments-30-days.json")))

    # Events: the Hanoi signatures, the scenarios' event files, the vector script's events,
    # the bad-input corpus's event files, and the events of the vector ledger.
    events = []
    hanoi = lines_of(fixture("hanoi", "signatures-2025.jsonl"))
    events += hanoi[:: max(1, len(hanoi) // 12)]
    for path in sorted(glob.glob(fixture("scenarios", "**", "synthetic-*.jsonl"), recursive=True)):
        events += lines_of(path)
    for line in vector_lines:
        events.append(canonical(json.loads(line)["event"]))
    events.append(canonical({"type": "treaty_registered", "treaty": treaty}))
    events.append(
        canonical(
            {
                "type": "participant_registered",
                "participant": {"id": "FFF", "name": "Freedonia", "kind": "state"},
            }
        )
    )
    events.append(
        canonical(
            {
                "type": "participant_registered",
                "participant": {
                    "id": "ORG",
                    "name": "Organization",
                    "kind": "organization",
                    "members": ["AAA", "BBB"],
                },
            }
        )
    )
    events.append(
        b'{ "type": "statement", "party": "AAA", "date": "2025-02-01", "kind": "reservation",'
        b' "text": "tab\\there, line\\nfeed, quote \\" and \\u00e9t\\u00E9 \\ud83d\\ude00" }'
    )
    bad_events = sorted(glob.glob(fixture("bad", "events", "*.jsonl")))

    out = Out(base, "event")
    for e in events:
        out.add(e)
    for path in bad_events:
        out.add(read(path).split(b"\n")[0])
    print(f"event: {out.count} seeds")

    # Entries: the vector ledger's lines, and lines of the bad-input exports.
    out = Out(base, "entry")
    for line in vector_lines:
        out.add(line)
    for path in sorted(glob.glob(fixture("bad", "export", "*.jsonl"))):
        for line in read(path).split(b"\n"):
            if line not in vector_lines:
                out.add(line)
    print(f"entry: {out.count} seeds")

    # Canonical JSON: entries, events in canonical form, and JSON with every escape.
    out = Out(base, "canonical")
    for line in vector_lines:
        out.add(line)
    for e in events:
        out.add(e)
        try:
            out.add(canonical(json.loads(e)))
        except ValueError:
            pass
    for text in [
        b"{}",
        b"[]",
        b"0",
        b"-9007199254740991",
        b"9007199254740991",
        b"[true,false,null]",
        b'"\\u0000\\u001f\\b\\t\\n\\f\\r\\"\\\\/\x7f"',
        '{"\\r":1,"1":2,"\u0080":3,"\u00f6":4,"\u20ac":5,"\U0001f600":6,"\ufb33":7}'.encode(),
        b'{"a":{"b":[1,{"c":null}]},"b":"x"}',
        b"[" * 32 + b"]" * 32,
    ]:
        out.add(text)
    out.add(read(fixture("treaties", "test-3-instruments-30-days.json")))
    out.add(canonical(treaty))
    print(f"canonical: {out.count} seeds")

    # Exports: the vector ledger, its prefixes, and its lines deleted, duplicated, swapped,
    # cut, with CRLF, and without the last line feed.
    out = Out(base, "verify")
    n = len(vector_lines)

    def export(ls, end=b"\n"):
        return b"\n".join(ls) + end

    out.add(ledger)
    for k in range(1, n):
        out.add(export(vector_lines[:k]))
    for i in range(n):
        out.add(export(vector_lines[:i] + vector_lines[i + 1 :]))
        out.add(export(vector_lines[: i + 1] + [vector_lines[i]] + vector_lines[i + 1 :]))
        if i + 1 < n:
            swapped = list(vector_lines)
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
            out.add(export(swapped))
        cut = list(vector_lines)
        cut[i] = cut[i][: len(cut[i]) // 2]
        out.add(export(cut))
    out.add(export(vector_lines, b""))
    out.add(b"\r\n".join(vector_lines) + b"\r\n")
    out.add(export(vector_lines + [vector_lines[-1]]))
    for path in sorted(glob.glob(fixture("bad", "export", "*.jsonl"))):
        out.add(read(path))
    print(f"verify: {out.count} seeds")


if __name__ == "__main__":
    main()
