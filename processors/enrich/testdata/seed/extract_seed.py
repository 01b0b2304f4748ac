#!/usr/bin/env python3
"""Extract the 26 example records of seed 002 into <method>_<outcome>.json.

Usage: extract_seed.py /work/shared/seeds/002_5d98b1054c3b9d7d.txt [outdir]

The seed is Confluent's "Auditable Event Methods" page as text: a
"kafka.<Method>¶" heading, then "SUCCESS" and "FAILURE - ..." labels, each
followed by one JSON record. The record text is kept as the page has it,
except that trailing commas (in the AlterMirrors SUCCESS example, not strict
JSON) are removed; the script checks that every record parses.
"""
import json
import re
import sys
from pathlib import Path

HEADING = re.compile(r"^kafka\.(\w+)¶$")
LABEL = re.compile(r"^(SUCCESS|FAILURE)\b")
TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def records(lines):
    method, i = None, 0
    while i < len(lines):
        line = lines[i]
        if m := HEADING.match(line):
            method = m.group(1)
        elif method and (m := LABEL.match(line)) and i + 1 < len(lines) and lines[i + 1] == "{":
            # The record ends at the first line that is exactly "}".
            end = lines.index("}", i + 1)
            yield method, m.group(1).lower(), "\n".join(lines[i + 1 : end + 1])
            i = end
        i += 1


def main():
    seed = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).parent
    seen = set()
    for method, outcome, text in records(seed.read_text().splitlines()):
        text = TRAILING_COMMA.sub(r"\1", text)
        json.loads(text)  # fail loudly on anything still not JSON
        name = f"{snake(method)}_{outcome}"
        if name in seen:
            sys.exit(f"duplicate example {name}")
        seen.add(name)
        (out / f"{name}.json").write_text(text + "\n")
    if len(seen) != 26:
        sys.exit(f"found {len(seen)} examples, want 26")
    print(f"wrote {len(seen)} records to {out}")


if __name__ == "__main__":
    main()
