"""The load benchmark's traffic: who sends which request, in one shuffled stream.

`Traffic.ready` logs the users in and learns every query from the pages themselves (the
filter choices each page offers); `Traffic.tasks` makes a fixed number of requests with
the given shares of form saves and logged-in pages, shuffled, so that the mix is the same
from the first request to the last. A task of a clinician or a registrar holds that user's
lock while it runs: one person, one browser, one request at a time.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from itertools import cycle, product
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import urllib3

from benchmarks.dash_client import (
    AnswerError,
    Visitor,
    answer_of,
    callback_key,
    components,
    indicator_searches,
    options,
    outputs_of,
    page_router_body,
    page_tree,
)
from benchmarks.registrars import Registrar, form_shapes, save_callback
from entry.registry_folder import read_registry_folder

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "belastning-og-benk-2026"
"""Of the benchmark's own users, who exist only in the benchmark's database."""
DRILL_DOWN_LIST = "drill-down-table-region.children"


@dataclass(frozen=True)
class Outcome:
    """One timed request: its class, its kind within the class, and milliseconds or an error."""

    traffic: str
    kind: str
    milliseconds: float | None
    error: str | None = None
    late: bool = False
    """Of a paced request: it started over `LATE_SECONDS` after its time (`run_paced`)."""


Task = Callable[[], list[Outcome]]


@dataclass
class Clinician:
    visitor: Visitor
    pages: list[str]
    """Queries of My unit (year x indicator) for this clinician's unit."""
    lock: threading.Lock


@dataclass
class Traffic:
    """Who sends what: the anonymous readers, the clinicians, the registrars, and their pages."""

    reader: Visitor
    public: dict[str, list[str]]
    """pathname -> the queries its filters offer."""
    clinicians: list[Clinician]
    registrars: list[Registrar]
    registrar_locks: list[threading.Lock]
    drill_down_list: str

    @classmethod
    def ready(
        cls,
        base: str,
        public_units: list[int],
        registrar_units: list[int],
        clinician_units: list[int],
    ) -> Traffic:
        """Log everyone in and learn the queries from the pages themselves (the unit page
        finds its unit by a name search, so its units come from the organisation tree)."""
        reader = Visitor(base, connections=64)
        reader.open("/")
        overview = options(reader.page("/results", "?registry=stroke"))
        profile = options(reader.page("/results/unit", "?registry=stroke"))
        public = {
            "/results": _queries(
                overview, {"year": "overview-year", "level": "overview-level"}, lang=["nb", "en"]
            ),
            "/results/indicator": indicator_searches(reader, "/results/indicator"),
            "/results/unit": _queries(profile, {"year": "profile-year"}, unit=public_units),
        }
        clinicians = []
        for number, unit_id in enumerate(clinician_units, start=1):
            visitor = Visitor(base, address=f"127.0.2.{number}")
            visitor.log_in(f"load-clinician-{number:02d}", PASSWORD)
            choices = options(visitor.page("/my-unit", f"?registry=stroke&unit={unit_id}"))
            pages = _queries(
                choices,
                {"year": "my-unit-year", "indicator": "my-unit-indicator"},
                unit=[unit_id],
            )
            clinicians.append(Clinician(visitor, pages, threading.Lock()))
        registrars = []
        dictionary = read_registry_folder(ROOT / "registries" / "stroke").dictionary
        for number, unit_id in enumerate(registrar_units, start=1):
            visitor = Visitor(base, address=f"127.0.1.{number}")
            visitor.log_in(f"load-registrar-{number:02d}", PASSWORD)
            shapes = form_shapes(visitor, unit_id)
            registrars.append(
                Registrar(visitor, unit_id, number, dictionary, shapes, save_callback(visitor))
            )
        drill_down = callback_key(clinicians[0].visitor.callback_keys(), DRILL_DOWN_LIST)
        locks = [threading.Lock() for _ in registrars]
        return cls(reader, public, clinicians, registrars, locks, drill_down)

    def describe(self) -> str:
        counts = ", ".join(f"{len(q)} {path}" for path, q in self.public.items())
        return (
            f"public queries: {counts}; {len(self.clinicians)} clinicians with "
            f"{sum(len(c.pages) for c in self.clinicians)} My unit queries; "
            f"{len(self.registrars)} registrars"
        )

    def tasks(
        self, requests: int, save_share: float, logged_in_share: float, seed: int
    ) -> list[Task]:
        """`requests` requests in one shuffled stream with the given shares."""
        saves = round(requests * save_share)
        logged_in = round(requests * logged_in_share)
        picker = random.Random(seed)
        kinds = ["save"] * saves + ["public"] * (requests - saves - logged_in)
        kinds += _alternate(logged_in)  # "my unit" (1 request) or "drill-down" (2)
        picker.shuffle(kinds)
        public = {path: cycle(picker.sample(q, len(q))) for path, q in self.public.items()}
        paths = cycle(self.public)
        registrars = cycle(range(len(self.registrars)))
        clinicians = cycle(self.clinicians)
        pages = {id(c): cycle(picker.sample(c.pages, len(c.pages))) for c in self.clinicians}
        made: list[Task] = []
        for kind in kinds:
            if kind == "public":
                path = next(paths)
                made.append(self._public(path, next(public[path])))
            elif kind == "save":
                made.append(self._save(next(registrars)))
            else:
                clinician = next(clinicians)
                made.append(self._clinician(clinician, kind, next(pages[id(clinician)])))
        return made

    def tour(self) -> list[Task]:
        """Every public page once, and each clinician's My unit and a drill-down (the warm-up:
        the data version's results computed, every public page of it in the page cache)."""
        public = [self._public(path, q) for path, queries in self.public.items() for q in queries]
        return public + [
            self._clinician(c, kind, c.pages[0])
            for c in self.clinicians
            for kind in ("my unit", "drill-down")
        ]

    def _public(self, path: str, search: str) -> Task:
        kind = {"/results": "overview", "/results/indicator": "indicator"}.get(path, "unit")
        body = page_router_body(path, search)
        return lambda: [_timed("public", kind, partial(self.reader.post, body), page_tree)]

    def _save(self, index: int) -> Task:
        registrar = self.registrars[index]

        def task() -> list[Outcome]:
            with self.registrar_locks[index]:  # a registrar saves one form at a time
                post = partial(registrar.visitor.post, registrar.next_save())
                return [_timed("form save", "save", post, registrar.saved)]

        return task

    def _clinician(self, clinician: Clinician, kind: str, search: str) -> Task:
        def task() -> list[Outcome]:
            with clinician.lock:  # one browser: one page at a time
                if kind == "my unit":
                    page = partial(clinician.visitor.post, page_router_body("/my-unit", search))
                    return [_timed("logged-in", kind, page, _logged_in)]
                return self._drill_down(clinician, search)

        return task

    def _drill_down(self, clinician: Clinician, search: str) -> list[Outcome]:
        """The drill-down page, then the list it asks for as it opens."""
        store: dict[str, Any] = {}

        def opened(raw: bytes) -> None:
            tree = _logged_in(raw)
            found = [n for n in components(tree) if n["props"].get("id") == "drill-down-request"]
            if not found:
                raise AnswerError(f"no drill-down for {search}")
            store["data"] = found[0]["props"]["data"]

        def listed(raw: bytes) -> None:
            if answer_of(raw).get("drill-down-table-region", {}).get("children") is None:
                raise AnswerError(f"the drill-down list was refused for {search}")

        page = partial(clinician.visitor.post, page_router_body("/my-unit/patients", search))
        first = _timed("logged-in", "drill-down page", page, opened)
        if first.error is not None:
            return [first]
        body = {
            "output": self.drill_down_list,
            "outputs": outputs_of(self.drill_down_list),
            "inputs": [{"id": "drill-down-request", "property": "data", "value": store["data"]}],
            "changedPropIds": [],
            "state": [],
        }
        listing = partial(clinician.visitor.post, body)
        return [first, _timed("logged-in", "drill-down list", listing, listed)]


def _queries(
    choices: dict[str, list[object]], keys: dict[str, str], **fixed: Sequence[object]
) -> list[str]:
    """Every combination of the choices a page offers, as query strings (registry first)."""
    axes = {**fixed, **{key: choices.get(component, [None]) for key, component in keys.items()}}
    found = []
    for values in product(*axes.values()):
        query = {"registry": "stroke", **dict(zip(axes, values, strict=True))}
        found.append("?" + urlencode({k: v for k, v in query.items() if v is not None}))
    return found


def _alternate(requests: int) -> list[str]:
    """Clinician visits adding up to `requests` requests: My unit, drill-down, My unit, ..."""
    visits: list[str] = []
    while requests > 0:
        kind = "my unit" if len(visits) % 2 == 0 or requests == 1 else "drill-down"
        visits.append(kind)
        requests -= 1 if kind == "my unit" else 2
    return visits


def _logged_in(raw: bytes) -> Any:
    """The page's tree; a logged-in page that asks for a login has lost its session."""
    tree = page_tree(raw)
    if any(node["props"].get("id") == "login-prompt" for node in components(tree)):
        raise AnswerError("the page asks for a login")
    return tree


def _timed(
    traffic: str,
    kind: str,
    request: Callable[[], bytes],
    check: Callable[[bytes], object] | None = None,
) -> Outcome:
    """Time the request alone; then `check` its answer, which may turn it into an error."""
    started = time.perf_counter()
    try:
        answer = request()
        milliseconds = (time.perf_counter() - started) * 1000
        if check is not None:
            check(answer)
    except (AnswerError, urllib3.exceptions.HTTPError, ValueError, KeyError) as error:
        return Outcome(traffic, kind, None, f"{type(error).__name__}: {error}"[:300])
    return Outcome(traffic, kind, milliseconds)


def run(tasks: list[Task], clients: int) -> list[Outcome]:
    """Every task, `clients` at a time; Ctrl-C drops the tasks not yet begun."""
    pool = ThreadPoolExecutor(max_workers=clients)
    try:
        return [outcome for done in pool.map(lambda task: task(), tasks) for outcome in done]
    finally:
        pool.shutdown(cancel_futures=True)


LATE_SECONDS = 0.05
"""A paced request that starts later than this after its time is counted as late: the
client, not the server, held it up, and its latency would flatter the server."""


def run_paced(tasks: list[Task], rate: float, threads: int = 256) -> list[Outcome]:
    """Start task i at i / `rate` seconds, whether or not the earlier ones have finished
    (an open system: people arrive whatever the server is doing, where `run`'s clients wait
    for their answer before asking again); a task that started late has its outcomes
    marked `late`."""
    pool = ThreadPoolExecutor(max_workers=threads)
    start = time.perf_counter() + 0.1

    def on_time(task: Task, due: float) -> list[Outcome]:
        late = time.perf_counter() - due > LATE_SECONDS
        return [replace(outcome, late=late) for outcome in task()]

    try:
        futures = []
        for number, task in enumerate(tasks):
            due = start + number / rate
            time.sleep(max(due - time.perf_counter(), 0.0))
            futures.append(pool.submit(on_time, task, due))
        return [outcome for future in futures for outcome in future.result()]
    finally:
        pool.shutdown(cancel_futures=True)
