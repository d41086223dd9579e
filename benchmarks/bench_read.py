#!/usr/bin/env python
"""What a file that needs repairs costs to read, beside one that does not.

Most files go through pyarrow's reader; a file with a ragged row or a quote that never
closes goes through the record reader (Python's ``csv`` module, row by row, keeping
every record and saying what it repaired). This script writes an N-row synthetic file
with the package's generator, a copy with one unclosed quote in row 10, and a copy with
one row of an extra field, and reads each with ``detector.io.read_table`` in a fresh
process (best of ``--repeats``), printing seconds, peak memory and the ratio to the
clean file. It checks that every copy comes back with all N rows.

Usage::

    python benchmarks/bench_read.py               # 1,000,000 rows in a temp dir
    python benchmarks/bench_read.py --rows 100000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from detector.synthetic import write_synthetic

_READ = """
import resource, sys, time
from detector.io import read_table
start = time.perf_counter()
frame, info = read_table(sys.argv[1])
seconds = time.perf_counter() - start
print(len(frame), seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _copies(clean: Path) -> dict[str, Path]:
    lines = clean.read_text(encoding="utf-8").split("\n")
    unclosed, ragged = list(lines), list(lines)
    unclosed[10] = unclosed[10][:unclosed[10].rindex(",")] + ',"unclosed'
    ragged[10] = ragged[10] + ',"one field too many"'
    paths = {"clean": clean}
    for name, text in (("unclosed quote", unclosed), ("ragged row", ragged)):
        paths[name] = clean.with_name(f"{name.replace(' ', '_')}.csv")
        paths[name].write_text("\n".join(text), encoding="utf-8")
    return paths


def _read(path: Path, repeats: int) -> tuple[int, float, float]:
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", _READ, str(path)], check=True, capture_output=True, text=True)
        rows, seconds, kib = out.stdout.split()
        runs.append((int(rows), float(seconds), int(kib) / 1024 ** 2))
    return min(runs, key=lambda run: run[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clean = write_synthetic(Path(folder) / "declarations.csv", options.rows, seed=1)
        results = {name: _read(path, options.repeats) for name, path in _copies(clean).items()}
    floor = results["clean"][1]
    print(f"{'file':<16}{'rows':>11}{'seconds':>10}{'x clean':>9}{'peak GiB':>10}")
    for name, (rows, seconds, gib) in results.items():
        print(f"{name:<16}{rows:>11,}{seconds:>10.2f}{seconds / floor:>9.1f}{gib:>10.2f}")
        if rows != options.rows:
            print(f"  {name}: {rows:,} rows read, expected {options.rows:,}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
