#!/usr/bin/env python
"""Where the time of ``detector score`` goes: each pipeline stage's seconds, CPU and memory.

``bench_score.py`` says how far the scorer is from the floor; this script says which
stage to work on. It runs ``detector score FILE -o OUT --quiet`` (``--no-anomaly``
unless ``--anomaly``) through the real command-line code, in a fresh interpreter per
run, with a timer wrapped around each stage function (nothing of the pipeline is
copied here, so the figures are those of the code users run):

==============  ===========================================================
stage           function timed
==============  ===========================================================
import          starting Python and importing the ``detector`` command line
load rules      ``detector.load_rules``
read            ``read_table`` (CSV or Parquet to text columns)
validate        ``schema.validate`` (typed fields and row problems)
derive          ``derived.derive`` (HS levels, USD values, ratios)
rules           ``evaluate_rules`` (every rule's hits and reasons)
anomaly         ``scoring.score_anomaly`` (forest fitted on the file, scores)
risk            the ``risk`` stages (evidence, scores, lanes, reasons joined)
write           ``io.write_table`` (formula-safe CSV, written atomically)
other           the rest: mapping columns, row errors, assembling the output
==============  ===========================================================

For each stage it prints the median over ``--repeats`` runs of: wall seconds, CPU
seconds (user + system, all threads: above the wall time when threads overlap),
system seconds alone (on a virtual machine, first touches of fresh memory are a large
part of it), minor page faults and the resident memory after the stage.

Usage::

    python benchmarks/bench_stages.py FILE                 # e.g. the file bench_score.py --keep left
    python benchmarks/bench_stages.py --rows 200000        # generate a file first
    python benchmarks/bench_stages.py FILE --anomaly --repeats 5
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()  # before any import of the scorer: the import stage starts here

import argparse  # noqa: E402  (the clock above must start first)
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

STAGES = [
    # (name, module, attribute): the module attribute through which the pipeline calls it
    ("load rules", "detector", "load_rules"),
    ("read", "detector.declarations", "read_table"),
    ("validate", "detector.declarations", "validate"),
    ("derive", "detector.declarations", "derive"),
    ("rules", "detector.scoring", "evaluate_rules"),
    ("anomaly", "detector.scoring", "score_anomaly"),
    ("risk", "detector.scoring", "rule_evidence"),
    ("risk", "detector.scoring", "risk_scores"),
    ("risk", "detector.scoring", "assign_lanes"),
    ("risk", "detector.scoring", "reasons_column"),
    ("write", "detector", "write_table"),
]
ORDER = ["import", *dict.fromkeys(name for name, _module, _attribute in STAGES), "other", "total"]
PAGE = os.sysconf("SC_PAGE_SIZE")


def sample() -> dict:
    """Clock, CPU and memory counters of this process now."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open("/proc/self/statm") as statm:
        resident = int(statm.read().split()[1]) * PAGE
    return {"wall": time.perf_counter(), "cpu": usage.ru_utime + usage.ru_stime, "sys": usage.ru_stime,
            "faults": usage.ru_minflt, "rss_mib": resident / 2**20}


def difference(before: dict, after: dict) -> dict:
    return {**{key: after[key] - before[key] for key in ("wall", "cpu", "sys", "faults")},
            "rss_mib": after["rss_mib"]}


def timed(name: str, function, record: dict):
    """``function`` with its stage's counters added to ``record[name]`` at each call."""
    def wrapper(*args, **kwargs):
        before = sample()
        try:
            return function(*args, **kwargs)
        finally:
            spent = difference(before, sample())
            if name in record:
                spent = {key: record[name][key] + spent[key] for key in ("wall", "cpu", "sys", "faults")} | {
                    "rss_mib": spent["rss_mib"]}
            record[name] = spent
    return wrapper


def child(source: str, output: str, anomaly: bool) -> None:
    """One measured run in this interpreter; prints the stages as JSON on stdout."""
    import importlib

    origin = {"wall": _STARTED, "cpu": 0.0, "sys": 0.0, "faults": 0, "rss_mib": 0.0}
    from detector.cli import app  # what the console script imports

    record = {"import": difference(origin, sample())}
    for name, module, attribute in STAGES:
        target = importlib.import_module(module)
        setattr(target, attribute, timed(name, getattr(target, attribute), record))
    arguments = ["score", source, "-o", output, "--quiet", *([] if anomaly else ["--no-anomaly"])]
    try:
        app(arguments, prog_name="detector")
    except SystemExit as exit_:
        if exit_.code:
            raise
    record["total"] = difference(origin, sample())
    staged = [record[name] for name in ORDER[:-2] if name in record]
    record["other"] = {key: record["total"][key] - sum(stage[key] for stage in staged)
                       for key in ("wall", "cpu", "sys", "faults")} | {"rss_mib": record["total"]["rss_mib"]}
    print(json.dumps(record))


def run(source: Path, output: Path, anomaly: bool) -> dict:
    """One run in a fresh interpreter, as a user's command would start."""
    output.unlink(missing_ok=True)
    os.sync()  # the previous run's output is flushed, not written back during this one
    command = [sys.executable, __file__, "--child", str(source), str(output)] + (["--anomaly"] if anomaly else [])
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"detector score failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def report(runs: list[dict]) -> None:
    """Median of each stage's counters over the runs, in pipeline order."""
    print(f"{'stage':12} {'wall s':>8} {'share':>6} {'CPU s':>7} {'sys s':>7} {'faults':>9} {'RSS MB':>8}")
    total = statistics.median(r["total"]["wall"] for r in runs)
    for name in ORDER:
        if not all(name in r for r in runs):
            continue
        median = {key: statistics.median(r[name][key] for r in runs) for key in runs[0][name]}
        print(f"{name:12} {median['wall']:8.2f} {median['wall'] / total:6.0%} {median['cpu']:7.2f} "
              f"{median['sys']:7.2f} {median['faults']:9,.0f} {median['rss_mib']:8,.0f}")
    walls = ", ".join(f"{r['total']['wall']:.2f}" for r in runs)
    print(f"medians of {len(runs)} runs (totals: {walls} s); CPU and faults count all threads; "
          "RSS is the resident size after the stage")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", type=Path, help="declarations CSV (default: generate --rows)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to generate when no file is given")
    parser.add_argument("--anomaly", action="store_true", help="include the anomaly model fitted on the file")
    parser.add_argument("--repeats", type=int, default=3, help="runs; each stage's median is shown")
    parser.add_argument("--child", nargs=2, metavar=("FILE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child, anomaly=args.anomaly)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_stages_") as scratch:
        source = args.file
        if source is None:
            from detector.synthetic import write_synthetic

            source = Path(scratch) / "declarations.csv"
            write_synthetic(source, args.rows, seed=20251129)
            print(f"generated {args.rows:,} rows: {source}")
        output = Path(scratch) / "scored.csv"
        mode = "rules and anomaly fitted on the file" if args.anomaly else "rules only (--no-anomaly)"
        print(f"detector score {source} ({source.stat().st_size / 2**20:,.1f} MB), {mode}")
        report([run(source, output, args.anomaly) for _ in range(args.repeats)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
