"""How fast `compute_results` is on the demo registry, against pandas and R, and whether all agree.

    .venv/bin/python benchmarks/engine.py [--registrations 1000000] [--seed 1] [--runs 3]

Generates the demo stroke registry (or reuses it from `benchmarks/.cache/`, keyed by the
generator's version, the size and the seed), then in one run times:

1. `indicators.compute_results` over every demo indicator, unit, level and year, cold: no
   result is cached between calls, and the registrations are an in-memory polars frame. The
   first call in the process (which also pays for polars' thread pool and scipy's first
   calls) and the best of `--runs` further calls are both printed;
2. the same results the way an analyst would compute them with pandas and statsmodels
   (`benchmarks/baseline_pandas.py`), from an in-memory pandas frame;
3. the same in R with data.table and glm (`benchmarks/baseline.R`), if `Rscript` and
   data.table are installed; R reads a CSV this script writes, and its own clock separates
   reading from computing.

It then checks that the baselines agree with the engine on every row and every number: the
same (indicator, period, unit) rows, and in `NUMBERS` |a − b| ≤ 1e-6 · max(1, |a|, |b|)
(1e-6 absolute for numbers up to 1 — proportions and their intervals and funnel limits —
and relative above: counts, means, expected counts), blank exactly where the other is blank;
in `LABELS` the same value. Times
are compared with the goals of issue 5: 1 second for the engine, 3× faster than R, 5× faster
than pandas. The machine is shared, so each timing also says how much CPU other processes
took meanwhile; rerun at a quiet moment if that is more than a few per cent. The benchmark
is not part of the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from benchmarks import baseline_pandas  # noqa: E402
from data_access.org_tree import read_unit_tree  # noqa: E402
from entry.expressions import parse, variables_of  # noqa: E402
from entry.registry_folder import read_registry_folder  # noqa: E402
from indicators import Indicator, compute_results  # noqa: E402
from registries.stroke.synthetic import GENERATOR_VERSION, generate  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache"
R_SCRIPT = ROOT / "benchmarks" / "baseline.R"
GOAL_SECONDS = 1.0
GOAL_AGAINST_R = 3.0
GOAL_AGAINST_PANDAS = 5.0
TOLERANCE = 1e-6
KEY = ["indicator", "period", "unit_id"]
NUMBERS = (
    "numerator",
    "denominator",
    "estimate",
    "lower",
    "upper",
    "coverage",
    "observed",
    "expected",
    "oe_ratio",
    "oe_lower",
    "oe_upper",
    "risk_standardised",
    "funnel_lower_95",
    "funnel_upper_95",
    "funnel_lower_998",
    "funnel_upper_998",
)
LABELS = ("level", "achievement", "funnel_position", "suppressed")
INSTALL_R = "apt-get install r-base-core r-cran-data.table"

T = TypeVar("T")


def timed(function: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def busy_seconds() -> tuple[float, float] | None:
    """CPU seconds spent so far by the whole machine and by this process with its children.

    Their difference over a phase is what other processes took from the benchmark: the
    machine is shared, so each timing says how much of it was someone else's. Linux only.
    """
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields)
    machine = (user + nice + system + irq + softirq + steal) / ticks
    own = sum(
        usage.ru_utime + usage.ru_stime
        for usage in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )
    return machine, own


def others_since(start: tuple[float, float] | None, seconds: float) -> str:
    """How much CPU other processes used since `start`, over a phase of `seconds`."""
    end = busy_seconds()
    if start is None or end is None or seconds <= 0:
        return "other processes' CPU use unknown"
    others = max(0.0, (end[0] - start[0]) - (end[1] - start[1]))
    share = others / (seconds * (os.cpu_count() or 1))
    return f"other processes used {others:.2f} CPU-s ({share:.0%} of the machine)"


def demo_registrations(registrations: int, seed: int) -> tuple[pl.DataFrame, Path]:
    """The demo registrations, from the cache if this size and seed were generated before."""
    path = CACHE / f"stroke-v{GENERATOR_VERSION}-n{registrations}-seed{seed}.parquet"
    if path.exists():
        frame, seconds = timed(lambda: pl.read_parquet(path))
        print(f"demo data: {frame.height:,} registrations read from {path} in {seconds:.2f} s")
        return frame, path
    demo, seconds = timed(lambda: generate(read_unit_tree(), registrations, seed=seed))
    print(f"demo data: {demo.registrations.height:,} registrations generated in {seconds:.1f} s")
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    demo.registrations.write_parquet(partial)
    partial.replace(path)
    return demo.registrations, path


def time_engine(
    registrations: pl.DataFrame, indicators: list[Indicator], units: pl.DataFrame, runs: int
) -> tuple[pl.DataFrame, float, float]:
    """Results, the first call's seconds and the best of `runs` further calls.

    The engine promises the same output to the last bit on every call (docs/methods.md,
    "Determinism"); a repeat that differs is reported.
    """
    results, first = timed(lambda: compute_results(registrations, indicators, units))
    seconds = []
    for _ in range(runs):
        again, taken = timed(lambda: compute_results(registrations, indicators, units))
        seconds.append(taken)
        if not again.equals(results):
            differing = [
                name for name in results.columns if (results[name].ne_missing(again[name])).any()
            ]
            print(f"engine: a repeated call gave different results in {differing}")
    return results, first, min(seconds)


def time_pandas(
    registrations: pl.DataFrame, indicators: list[Indicator], units: pl.DataFrame
) -> tuple[pl.DataFrame, float]:
    frame, seconds = timed(registrations.to_pandas)
    print(f"pandas: converted the registrations in {seconds:.2f} s (not timed)")
    tree = units.select("unit_id", "parent_id", "level").to_pandas()
    found, seconds = timed(lambda: baseline_pandas.compute_results(frame, tree, indicators))
    columns = ["indicator", "period", "unit_id", *LABELS, *NUMBERS]
    results = pl.from_pandas(found[columns]).with_columns(
        pl.col("level").cast(pl.String), pl.col("period").cast(pl.Int32)
    )
    return results, seconds


def r_inputs(
    registrations: pl.DataFrame, indicators: list[Indicator], units: pl.DataFrame, cached: Path
) -> tuple[Path, Path, Path]:
    """CSV files for the R baseline: the columns the indicators use, the tree, the definitions."""
    used = {"unit_id", "event_date"}
    for indicator in indicators:
        for text in (indicator.denominator, indicator.numerator, indicator.value):
            if text:
                used |= variables_of(parse(text))
        if indicator.risk_model is not None:
            used |= set(indicator.risk_model.covariates)
            used |= {indicator.risk_model.expected} if indicator.risk_model.expected else set()
    columns = hashlib.sha1(",".join(sorted(used)).encode()).hexdigest()[:8]
    data = cached.with_suffix(f".columns-{columns}.csv")
    if not data.exists():
        partial = data.with_suffix(".partial")
        registrations.select(name for name in registrations.columns if name in used).write_csv(
            partial
        )
        partial.replace(data)
    tree = CACHE / "units.csv"
    units.select("unit_id", "parent_id", pl.col("level").cast(pl.String)).write_csv(tree)
    definitions = CACHE / "indicators.csv"
    pl.DataFrame(
        [
            {
                "key": item.key,
                "type": item.type,
                "direction": item.direction,
                "target_high": item.targets.high if item.targets else None,
                "target_moderate": item.targets.moderate if item.targets else None,
                "min_denominator": item.min_denominator,
                "family": item.risk_model.family if item.risk_model else None,
                "covariates": ";".join(item.risk_model.covariates) if item.risk_model else None,
                "categorical": ";".join(item.risk_model.categorical) if item.risk_model else None,
                "expected": item.risk_model.expected if item.risk_model else None,
                "overdispersion": "TRUE" if item.funnel.overdispersion else "FALSE",
            }
            for item in indicators
        ],
        schema_overrides={"target_high": pl.Float64, "target_moderate": pl.Float64},
    ).write_csv(definitions)
    return data, tree, definitions


def r_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    check = subprocess.run(
        ["Rscript", "-e", "library(data.table)"], capture_output=True, check=False
    )
    return check.returncode == 0


def time_r(
    registrations: pl.DataFrame, indicators: list[Indicator], units: pl.DataFrame, cached: Path
) -> tuple[pl.DataFrame, float, float, float] | None:
    """R's results, its seconds computing and reading, and the whole Rscript call's seconds."""
    if not r_available():
        print(f"R: Rscript with data.table not found; install it with `{INSTALL_R}`")
        return None
    inputs = r_inputs(registrations, indicators, units, cached)
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "results.csv"
        command = ["Rscript", str(R_SCRIPT), *map(str, inputs), str(output)]
        ran, seconds = timed(
            lambda: subprocess.run(command, capture_output=True, text=True, check=False)
        )
        if ran.returncode != 0:
            print(f"R: baseline.R failed:\n{ran.stderr}")
            return None
        clock = dict(re.findall(r"(\w+_seconds)=([\d.]+)", ran.stdout))
        schema = {name: pl.Float64 for name in NUMBERS} | {
            "indicator": pl.String,
            "period": pl.Int32,
            "unit_id": pl.Int64,
            "level": pl.String,
            "achievement": pl.String,
            "suppressed": pl.Boolean,
            "funnel_position": pl.String,
        }
        results = pl.read_csv(output, schema_overrides=schema)
    return results, float(clock["compute_seconds"]), float(clock["read_seconds"]), seconds


def compare(name: str, engine: pl.DataFrame, baseline: pl.DataFrame) -> bool:
    """Print how far a baseline is from the engine, column by column; True if they agree."""
    ours = engine.with_columns(pl.col("level").cast(pl.String))
    joined = ours.join(baseline, on=KEY, how="full", suffix="_baseline", coalesce=True)
    only_engine = joined.filter(pl.col("level_baseline").is_null()).height
    only_baseline = joined.filter(pl.col("level").is_null()).height
    both = joined.filter(pl.col("level").is_not_null() & pl.col("level_baseline").is_not_null())
    problems = []
    if only_engine or only_baseline:
        problems.append(f"rows only in the engine: {only_engine}, only in {name}: {only_baseline}")
    widest = []
    for column in NUMBERS:
        a, b = pl.col(column).cast(pl.Float64), pl.col(f"{column}_baseline").cast(pl.Float64)
        scale = pl.max_horizontal(pl.lit(1.0), a.abs(), b.abs())
        found = both.select(
            ((a - b).abs() / scale).max().alias("difference"),
            (a.is_null() != b.is_null()).sum().alias("blanks"),
        ).row(0, named=True)
        difference = found["difference"] or 0.0
        widest.append(f"{column} {difference:.1e}")
        if difference > TOLERANCE or found["blanks"]:
            problems.append(
                f"{column}: differs by up to {difference:.3g} (scaled), "
                f"blank in one only in {found['blanks']} rows"
            )
    for column in LABELS:
        a, b = pl.col(column).cast(pl.String), pl.col(f"{column}_baseline").cast(pl.String)
        differing = both.filter(a.ne_missing(b))
        if differing.height:
            example = differing.select(*KEY, column, f"{column}_baseline").row(0)
            problems.append(f"{column}: {differing.height} rows differ, e.g. {example}")
    print(f"{name} vs engine, {both.height:,} rows; largest scaled difference per column:")
    print("  " + ", ".join(widest))
    for problem in problems:
        print(f"  DISAGREES: {problem}")
    if not problems:
        print(f"  agrees on every row and number to {TOLERANCE:g}")
    return not problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--registrations", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3, help="timed engine calls after the first")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--skip-r", action="store_true")
    options = parser.parse_args()

    registrations, cached = demo_registrations(options.registrations, options.seed)
    units = read_unit_tree()
    indicators = list(read_registry_folder(ROOT / "registries" / "stroke").indicators)

    started_all, whole = busy_seconds(), time.perf_counter()
    started = started_all
    (results, first, best), seconds = timed(
        lambda: time_engine(registrations, indicators, units, options.runs)
    )
    print(
        f"engine: {results.height:,} result rows; first call {first:.3f} s, "
        f"best of {options.runs} {best:.3f} s (goal ≤ {GOAL_SECONDS:g} s: "
        f"{'met' if best <= GOAL_SECONDS else 'MISSED'}); "
        f"{others_since(started, seconds)} while it ran"
    )
    agreed, compared = True, 0
    if not options.skip_pandas:
        started = busy_seconds()
        found, seconds = time_pandas(registrations, indicators, units)
        ratio = seconds / best
        print(
            f"pandas: {seconds:.2f} s, {ratio:.1f}× the engine's best "
            f"({seconds / first:.1f}× its first call; goal ≥ {GOAL_AGAINST_PANDAS:g}×: "
            f"{'met' if ratio >= GOAL_AGAINST_PANDAS else 'MISSED'}); "
            f"{others_since(started, seconds)} while it ran"
        )
        agreed &= compare("pandas", results, found)
        compared += 1
    if not options.skip_r:
        started = busy_seconds()
        ran = time_r(registrations, indicators, units, cached)
        if ran is not None:
            found, seconds, reading, whole_r = ran
            ratio = seconds / best
            print(
                f"R: {seconds:.2f} s computing ({reading:.2f} s reading the CSV, "
                f"{whole_r:.2f} s for the whole Rscript call), {ratio:.1f}× the engine's best "
                f"({seconds / first:.1f}× its first call; goal ≥ {GOAL_AGAINST_R:g}×: "
                f"{'met' if ratio >= GOAL_AGAINST_R else 'MISSED'}); "
                f"{others_since(started, whole_r)} while it ran"
            )
            agreed &= compare("R", results, found)
            compared += 1
    total = time.perf_counter() - whole
    print(f"whole run after loading: {total:.1f} s; {others_since(started_all, total)}")
    if not compared:
        print("no baseline compared")
    else:
        print("all agree" if agreed else "DISAGREEMENT: see above")
    sys.exit(0 if agreed else 1)


if __name__ == "__main__":
    main()
