"""How fast the demo stroke registry is generated: `python benchmarks/generate_demo.py [sizes…]`.

Times `registries.stroke.synthetic.generate` on the shipped organisation tree, by default for
100,000 and 1,000,000 registrations, and prints seconds and rows per second. The generator is
meant to make a million registrations in well under a minute on two cores.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_access.org_tree import read_unit_tree
from registries.stroke.synthetic import generate

DEFAULT_SIZES = (100_000, 1_000_000)


def main(sizes: tuple[int, ...]) -> None:
    units = read_unit_tree()
    generate(units, 1_000, seed=0)  # warm up imports and polars' thread pool
    for size in sizes:
        started = time.perf_counter()
        demo = generate(units, size, seed=1)
        seconds = time.perf_counter() - started
        print(
            f"{size:>10,} registrations, {demo.patients.height:>10,} patients: "
            f"{seconds:6.2f} s, {size / seconds:>12,.0f} rows/s"
        )


if __name__ == "__main__":
    main(tuple(int(arg) for arg in sys.argv[1:]) or DEFAULT_SIZES)
