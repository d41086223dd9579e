#!/usr/bin/env python
"""End-to-end speed and memory of ``detector score`` against the cost of plain CSV I/O.

One run of this script:

1. writes a realistic N-row labelled declarations CSV with the package's own generator
   (``detector.synthetic``: stable exporter profiles, per-HS prices, 2% planted
   smuggling, a few typed errors), streamed in chunks;
2. measures the *floor*: reading that file with ``pyarrow.csv.read_csv`` (every column
   as text, as the detector reads it) plus writing the same table back with
   ``pyarrow.csv.write_csv``, best of 2;
3. runs ``detector score FILE -o OUT.csv --quiet`` in a subprocess, timing it and
   taking its peak resident memory;
4. prints one table with the ratio detector/floor and the verdict against the targets.

Why the floor is read + write with pyarrow: ``detector score`` must parse every cell of
the input and write every input row back with its added columns, so no scorer can be
faster than reading and writing the file. pyarrow's multi-threaded C++ CSV reader and
writer are the fastest way to do that from Python, so their time is the floor; the
detector's time as a multiple of it says how much the scoring itself costs, and unlike
seconds it carries over between machines.

Peak memory is measured from a small launcher process, not from this script: on Linux a
child's ``ru_maxrss`` starts from the resident size of the process that forked it, so
forking the detector from this script, which has just built the whole table, would
count that table against the detector.

Targets: detector/floor <= 3.0 and peak memory < 2.5 GiB. Missing a target is a finding,
not an error: the script exits 0 whenever it could measure, and 1 only when the
detector itself fails.

Usage::

    python benchmarks/bench_score.py                  # 1,000,000 rows in a temp dir
    python benchmarks/bench_score.py --rows 100000 --workdir /tmp/bench --keep
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

from detector.synthetic import write_synthetic

SEED = 20251129
TARGET_RATIO = 3.0
TARGET_PEAK_MIB = 2.5 * 1024
MIB = 1024 * 1024


def header_of(path: Path) -> list[str]:
    """Column names from the first line of a CSV file."""
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


def read_as_text(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read a CSV with every column as text, with the options the detector's reader uses."""
    names = header_of(path)
    return pa_csv.read_csv(
        path,
        read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in names}, include_columns=columns,
            strings_can_be_null=False, quoted_strings_can_be_null=False),
    )


def settle() -> None:
    """Flush written files to disk, so that the write-back of one step (generating the
    file, a floor run) does not slow down the next timed one."""
    os.sync()


def measure_floor(path: Path, scratch: Path, repeats: int = 2) -> tuple[float, float]:
    """Best read and best write seconds over ``repeats`` runs (``scratch`` is removed)."""
    reads, writes = [], []
    for _ in range(repeats):
        settle()
        start = time.perf_counter()
        table = read_as_text(path)
        reads.append(time.perf_counter() - start)
        settle()
        start = time.perf_counter()
        pa_csv.write_csv(table, scratch)
        writes.append(time.perf_counter() - start)
        del table
    scratch.unlink()
    return min(reads), min(writes)


# Run from a fresh, small interpreter so that the child's ru_maxrss is the scorer's own
# (see the module docstring). Prints JSON on stdout; the scorer's output goes to stderr.
_LAUNCHER = """\
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[1:], stdout=sys.stderr)
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"returncode": code, "seconds": seconds, "peak_kib": peak_kib}))
"""


def detector_command() -> list[str]:
    """The ``detector`` console script of this interpreter, else ``python -m detector``."""
    script = Path(sys.executable).parent / "detector"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "detector"]


def run_detector(source: Path, output: Path) -> dict:
    """Time ``detector score`` and take its peak RSS; returns seconds, peak_kib, returncode, stderr."""
    command = [*detector_command(), "score", str(source), "-o", str(output), "--quiet"]
    settle()
    launched = subprocess.run([sys.executable, "-c", _LAUNCHER, *command],
                              capture_output=True, text=True, check=True)
    return {**json.loads(launched.stdout), "stderr": launched.stderr}


def output_matches(source: Path, output: Path) -> tuple[int, bool]:
    """Data rows of ``output``, and whether its declaration ids are the input's, in order."""
    ids_in = read_as_text(source, ["declaration_id"]).column(0)
    ids_out = read_as_text(output, ["declaration_id"]).column(0)
    return len(ids_out), len(ids_in) == len(ids_out) and ids_in.equals(ids_out)


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def report(rows: int, file_mib: float, read_s: float, write_s: float, run: dict,
           output_rows: int, same_order: bool) -> None:
    """Print the results table and the verdict against the targets."""
    floor = read_s + write_s
    ratio = run["seconds"] / floor
    peak_mib = run["peak_kib"] / 1024
    ratio_ok, memory_ok, rows_ok = ratio <= TARGET_RATIO, peak_mib < TARGET_PEAK_MIB, output_rows == rows
    lines = [
        ("rows", f"{rows:,}", ""),
        ("input file MB", f"{file_mib:,.1f}", ""),
        ("floor read s", f"{read_s:.2f}", "pyarrow read_csv, all text, best of 2"),
        ("floor write s", f"{write_s:.2f}", "pyarrow write_csv, best of 2"),
        ("floor total s", f"{floor:.2f}", ""),
        ("detector s", f"{run['seconds']:.2f}", "detector score -o OUT.csv --quiet"),
        ("detector / floor", f"{ratio:.2f}", f"target <= {TARGET_RATIO:.1f}   {verdict(ratio_ok)}"),
        ("rows per second", f"{rows / run['seconds']:,.0f}", ""),
        ("peak memory MB", f"{peak_mib:,.0f}", f"target < {TARGET_PEAK_MIB:,.0f}   {verdict(memory_ok)}"),
        ("output rows", f"{output_rows:,}",
         ("= input rows" if rows_ok else f"!= {rows:,} input rows")
         + (", same ids in the same order" if same_order else ", declaration ids differ")),
    ]
    print()
    for label, value, note in lines:
        print(f"{label:<18}{value:>12}   {note}".rstrip())
    failed = [name for name, ok in (("speed", ratio_ok), ("memory", memory_ok),
                                    ("output rows", rows_ok and same_order)) if not ok]
    print(f"{'verdict':<18}{verdict(not failed):>12}   "
          + (f"missed: {', '.join(failed)}" if failed else "all targets met"))
    print("(MB = MiB; 2.5 GiB = 2,560 MiB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="declarations to generate (default: 1,000,000)")
    parser.add_argument("--workdir", type=Path, help="folder for the files (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated and scored files")
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_score_"))
    workdir.mkdir(parents=True, exist_ok=True)
    source, output = workdir / "declarations.csv", workdir / "scored.csv"
    try:
        start = time.perf_counter()
        write_synthetic(source, args.rows, seed=SEED)
        file_mib = source.stat().st_size / MIB
        print(f"generated {args.rows:,} rows: {source} ({file_mib:,.1f} MB) "
              f"in {time.perf_counter() - start:.1f} s")

        read_s, write_s = measure_floor(source, workdir / "floor_copy.csv")
        print(f"floor: read {read_s:.2f} s + write {write_s:.2f} s = {read_s + write_s:.2f} s")

        print(f"running: {' '.join(detector_command())} score {source.name} -o {output.name} --quiet")
        run = run_detector(source, output)
        if run["returncode"] != 0:
            print(f"detector failed with exit code {run['returncode']}:\n{run['stderr'][-3000:]}",
                  file=sys.stderr)
            return 1
        report(args.rows, file_mib, read_s, write_s, run, *output_matches(source, output))
    finally:
        if args.keep:
            print(f"kept files in {workdir}")
        elif args.workdir:
            for path in (source, output):
                path.unlink(missing_ok=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
