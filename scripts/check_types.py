#!/usr/bin/env python
"""Run mypy on src/nanomag and compare its errors with mypy-baseline.txt, a list that may only shrink.

An error is compared as ``file: [code] message``, without its line number, so that an unrelated
edit above it does not count as a new error.  The same error may appear several times in one file;
the baseline keeps one line per occurrence.

    python scripts/check_types.py            # fail (status 1) on any error not in the baseline
    python scripts/check_types.py --update   # rewrite the baseline when it can shrink (never grows it)
    python scripts/check_types.py --update --accept-new   # also take in new errors (a deliberate act:
                                                          # the diff of mypy-baseline.txt shows them)

Exit status: 0 when no error is new, 1 when some are, 2 when mypy itself fails to run.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "mypy-baseline.txt"
HEADER = ("# mypy errors that are tolerated for now; this list may only shrink (scripts/check_types.py).\n"
          "# One line per occurrence: file: [code] message (no line numbers).\n")
_ERROR = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+)(?::\d+)?: error: "
                    r"(?P<message>.*?)(?:  \[(?P<code>[a-z0-9-]+)\])?$")


def normalise(output: str) -> list[tuple[str, str]]:
    """(key, original line) for every error line of mypy's output; notes and the summary are dropped.

    The key is ``file: [code] message`` with the file as a forward-slash path and any "line N"
    inside the message replaced by "line N", so that it survives edits elsewhere in the file.
    """
    errors = []
    for line in output.splitlines():
        m = _ERROR.match(line.strip())
        if m is None:
            continue
        message = re.sub(r"\bline \d+\b", "line N", m["message"].strip())
        key = f"{m['file'].replace(chr(92), '/')}: [{m['code'] or 'misc'}] {message}"
        errors.append((key, line.strip()))
    return errors


def read_baseline(path: Path) -> Counter:
    if not path.exists():
        return Counter()
    return Counter(line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))


def write_baseline(path: Path, errors: Counter) -> None:
    path.write_text(HEADER + "".join(f"{key}\n" for key in sorted(errors.elements())))


def compare(current: Counter, baseline: Counter) -> tuple[Counter, Counter]:
    """(new, fixed): the errors beyond the baseline's count, and the baseline entries no longer seen."""
    return current - baseline, baseline - current


def run_mypy() -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--no-pretty", "--show-error-codes",
                           "--hide-error-context", "--no-color-output"],
                          cwd=ROOT, capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite the baseline when it can shrink")
    parser.add_argument("--accept-new", action="store_true", help="with --update: also take in new errors")
    parser.add_argument("--baseline", type=Path, default=BASELINE, help="default: %(default)s")
    args = parser.parse_args(argv)

    status, output = run_mypy()
    if status not in (0, 1):  # 2: mypy could not run (bad configuration, crash)
        print(output, file=sys.stderr)
        print(f"check_types: mypy failed to run (status {status})", file=sys.stderr)
        return 2
    errors = normalise(output)
    current = Counter(key for key, _ in errors)
    baseline = read_baseline(args.baseline)
    new, fixed = compare(current, baseline)

    if new:
        seen: Counter = Counter()
        print(f"check_types: {sum(new.values())} mypy error(s) not in {args.baseline.name}:")
        for key, line in errors:  # with line numbers, in mypy's order
            seen[key] += 1
            if seen[key] > baseline[key]:
                print(f"  {line}")
    if fixed:
        verb = "dropped from" if args.update and (not new or args.accept_new) else "can be dropped from"
        print(f"check_types: {sum(fixed.values())} error(s) fixed, {verb} {args.baseline.name}:")
        for key in sorted(fixed.elements()):
            print(f"  {key}")
    if args.update and (fixed or (new and args.accept_new)):
        if new and not args.accept_new:
            print("check_types: baseline not rewritten while there are new errors (fix them, or --accept-new)")
        else:
            write_baseline(args.baseline, current)
            print(f"check_types: wrote {args.baseline.name} ({sum(current.values())} errors)")
    elif fixed and not args.update and not new:
        print("check_types: run `python scripts/check_types.py --update` to shrink the baseline")
    if not new:
        print(f"check_types: ok ({sum(current.values())} known errors, none new)")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
