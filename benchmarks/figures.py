"""How long the results pages' figures take to make, as plain data and as plotly's objects.

    .venv/bin/python benchmarks/figures.py [--registrations 3000] [--seed 7] [--rounds 3]

Seeds the demo registries into a temporary SQLite file, then makes every unit-bars figure
(each indicator, level and the last two periods, with and without the national line), every
trend (nation and regions) and every funnel plot that the public results hold, in both
languages, the way the pages make them (`portal.components.result_figures`). The baseline,
in the same run, is the same figures then made into plotly's figure objects
(`plotly.graph_objects.Figure(figure)`), which check and convert every property as it is
set. That is the cheapest way to have them as objects: the portal's earlier way, one call
of `add_trace`, `update_layout` and `update_xaxes` at a time, cost more still (per figure
at 3,000 registrations, the old code against the new in runs one after the other: bars
18.8 against 1.2 ms, trend 25.8 against 4.6 ms, funnel 21.1 against 1.1 ms, for the same
JSON). Printed per kind:
figures made, milliseconds per figure as plain data and as objects, and their ratio. The
best of `--rounds` rounds is kept: the machine is shared.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from itertools import product
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import plotly.graph_objects as go
import polars as pl

from portal.catalogue import installed_registries
from portal.components import result_figures as figures
from portal.public_data import public_frame
from tests.conftest import seeded_demo_app

Maker = Callable[[], dict[str, Any]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registrations", type=int, default=3_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as folder,
        seeded_demo_app(Path(folder), args.registrations, seed=args.seed) as app,
        app.test_request_context("/"),
    ):
        makers: dict[str, list[Maker]] = {"bars": [], "trend": [], "funnel": []}
        for kind, maker in _makers():
            makers[kind].append(maker)
        print(f"{args.registrations:,} registrations (seed {args.seed})")
        print(f"{'figure':8} {'made':>6} {'plain ms':>9} {'as objects ms':>14} {'ratio':>6}")
        for kind, made in makers.items():
            plain = _best(args.rounds, lambda made=made: [make() for make in made])
            objects = _best(args.rounds, lambda made=made: [go.Figure(make()) for make in made])
            count = max(len(made), 1)
            print(
                f"{kind:8} {len(made):>6} {plain / count * 1000:>9.2f}"
                f" {objects / count * 1000:>14.2f} {objects / max(plain, 1e-9):>6.1f}"
            )


def _makers() -> Iterator[tuple[str, Maker]]:
    """Every figure the public results of the seeded registries hold, as a call that makes it."""
    for registry in installed_registries():
        public = public_frame(registry)
        for indicator, language in product(registry.indicators, ("nb", "en")):
            rows = public.filter(pl.col("indicator") == indicator.key)
            periods = sorted(rows["period"].unique().to_list())[-2:]
            for period, level in product(periods, ("hospital", "region", "department", "trust")):
                frame = rows.filter(pl.col("period") == period, pl.col("level") == level)
                if frame.is_empty():
                    continue
                for national in (None, 0.35):
                    yield (
                        "bars",
                        partial(figures.unit_bars, frame, indicator, language, national=national),
                    )
                if "funnel_upper_95" in frame.columns:
                    yield "funnel", partial(figures.funnel_plot, frame, indicator, language)
            lines = rows.filter(pl.col("level").is_in(["nation", "region"]))
            if not lines.is_empty():
                yield (
                    "trend",
                    partial(
                        figures.trend_chart,
                        lines,
                        indicator,
                        language,
                        preliminary_period=lines["period"].max(),
                    ),
                )


def _best(rounds: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


if __name__ == "__main__":
    main()
