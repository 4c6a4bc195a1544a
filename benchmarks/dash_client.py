"""A browser as the portal sees it, for the web benchmarks: cookies, login, Dash's posts.

A `Visitor` keeps its cookies (the session and `_csrf_token`) and sends the token back as
X-CSRFToken, as Dash's renderer does; pages come from Dash's page router (POST
/_dash-update-component with the page's pathname and query), other callbacks by the key
the browser reads from /_dash-dependencies. A visitor may come from its own loopback
address (127.0.0.x): the login form allows each address only so many posts a minute, as
it should, and a benchmark with many users on one machine would otherwise be refused.

The client is urllib3 (installed with requests, which Dash needs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from http.cookies import SimpleCookie
from itertools import product
from typing import Any
from urllib.parse import urlencode

import urllib3

from tests.conftest import page_router_body

UPDATE = "/_dash-update-component"
_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
TIMEOUT = urllib3.Timeout(connect=30, read=600)
"""Generous: a request that waits for a results computation of a large registry is slow,
not failed; gunicorn's own worker timeout ends one that hangs."""


class AnswerError(RuntimeError):
    """An answer that is not the one the browser would have been given."""


class Visitor:
    """One browser: its connections, its cookies, and what it posts."""

    def __init__(self, base: str, *, address: str = "127.0.0.1", connections: int = 1) -> None:
        self.base = base
        self.http = urllib3.PoolManager(
            maxsize=connections,
            block=True,
            retries=False,
            timeout=TIMEOUT,
            source_address=(address, 0),
        )
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> urllib3.BaseHTTPResponse:
        sent = {**(headers or {}), "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if "_csrf_token" in self.cookies:
            sent["X-CSRFToken"] = self.cookies["_csrf_token"]
        response = self.http.request(method, self.base + path, body=body, headers=sent)
        jar: SimpleCookie = SimpleCookie()
        for header in response.headers.getlist("Set-Cookie"):
            jar.load(header)
        self.cookies |= {name: morsel.value for name, morsel in jar.items()}
        return response

    def open(self, path: str = "/") -> str:
        response = self.request("GET", path)
        if response.status != 200:
            raise AnswerError(f"GET {path}: {response.status}")
        return response.data.decode()

    def log_in(self, username: str, password: str) -> None:
        """The login form, as a person fills it in (the second factor is not asked for)."""
        token = _CSRF_INPUT.search(self.open("/login"))
        if token is None:
            raise AnswerError("the login page holds no CSRF token")
        form = urlencode({"username": username, "password": password, "csrf_token": token[1]})
        response = self.request(
            "POST",
            "/login",
            body=form.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if response.status != 302:
            raise AnswerError(f"login of {username}: {response.status}")
        self.open("/")  # the page shell, which sets the `_csrf_token` cookie

    def post(self, body: Mapping[str, Any]) -> bytes:
        """Post one callback; the answer as it arrives (decoding it is the caller's, untimed)."""
        response = self.request(
            "POST",
            UPDATE,
            body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        if response.status != 200:
            raise AnswerError(f"{response.status} for {body['output']}: {response.data[:200]!r}")
        return bytes(response.data)

    def callback(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return answer_of(self.post(body))

    def page(self, pathname: str, search: str) -> Any:
        return page_tree(self.post(page_router_body(pathname, search)))

    def callback_keys(self) -> list[str]:
        """The callbacks the browser may post, as it learns them."""
        return [str(entry["output"]) for entry in json.loads(self.open("/_dash-dependencies"))]


def answer_of(raw: bytes) -> dict[str, Any]:
    """A callback's `response`: output id -> property -> value."""
    answer: dict[str, Any] = json.loads(raw)["response"]
    return answer


def page_tree(raw: bytes) -> Any:
    """The page's component tree, as the page router hands it to the browser."""
    return answer_of(raw)["_pages_content"]["children"]


def callback_key(keys: list[str], output: str) -> str:
    """The one key among the browser's callbacks that has `output` (an `id.property`)."""
    found = [key for key in keys if output in key.strip(".").split("...")]
    if len(found) != 1:
        raise AnswerError(f"{len(found)} callbacks write {output}")
    return found[0]


def outputs_of(key: str) -> list[dict[str, str]]:
    """A callback's outputs as the browser lists them in its post (duplicates keep `@…`)."""
    return [
        {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
        for part in key.strip(".").split("...")
    ]


def components(tree: Any) -> Iterator[dict[str, Any]]:
    """Every component in a tree, depth first in document order (the order of ALL lists)."""
    if isinstance(tree, list):
        for item in tree:
            yield from components(item)
    elif isinstance(tree, dict):
        if isinstance(tree.get("props"), dict):
            yield tree
        for value in tree.values():
            yield from components(value)


def options(tree: Any) -> dict[str, list[object]]:
    """The values each choice on a page offers, by the choice's id."""
    return {
        str(node["props"].get("id")): [
            o["value"] if isinstance(o, dict) else o for o in node["props"]["options"]
        ]
        for node in components(tree)
        if isinstance(node["props"].get("options"), list)
    }


def indicator_searches(visitor: Visitor, pathname: str) -> list[str]:
    """Every indicator x year x level x sort of the indicator page, from its own controls."""
    indicators: list[str] = []
    for path in (pathname, "/results"):
        found = re.findall(r"indicator=([a-z0-9_]+)", json.dumps(visitor.page(path, "")))
        indicators = sorted(set(found))
        if indicators:
            break
    controls = options(visitor.page(pathname, f"?registry=stroke&indicator={indicators[0]}"))
    years = controls.get("indicator-year", [None])
    levels = controls.get("indicator-level", [None])
    sorts = controls.get("indicator-sort", [None])
    searches = []
    for indicator, year, level, sort in product(indicators, years, levels, sorts):
        query = {"registry": "stroke", "indicator": indicator, "year": year, "level": level}
        query["sort"] = sort
        searches.append("?" + urlencode({k: v for k, v in query.items() if v is not None}))
    return searches
