"""No input gives a 5xx: hypothesis drives every route of the console's own route table
(app.url_map, so a new route is fuzzed without being listed here) over real HTTP against
`python -m console`, as `make console` runs it.

Each request is one of: a route with generated path parameters (ids up to far beyond
SQLite's range, text, path tricks), any method, a query string, and a body that is a
mutated design (the planner's interesting edges), arbitrary JSON, JSON nested
thousands deep, a form, or raw bytes, under a generated content type. Every answer must
be below 500, name no internals (no traceback, no file path), and every refusal must be
the console's: JSON {error, field, detail} under /api, the styled error page elsewhere.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.jobprocess import free_port
from tests.support.console import QUICK, ConsoleProcess, app_for

REQUESTS = 5_000
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
# POST and GET are what the console's routes answer, so they are drawn most often: drawn
# evenly, 5,000 requests held 0-9 bodies refused with a 400 (POSTs to /api/plan), and a
# run with none failed the check that every kind of answer was reached; drawn 4 in 11,
# in four runs the rarest of the kinds checked came 10-17 times.
DRAWN_METHODS = ("POST", "POST", "POST", "GET", *METHODS)
FIELDS = (
    "name",
    "hypothesis",
    "owner",
    "alpha",
    "power",
    "mde",
    "sample_size",
    "sample_unit",
    "sd",
    "sided",
    "treatment_share",
    "cuped",
    "sequential",
    "tau",
)
CONTENT_TYPES = (
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "text/plain",
    "application/json; charset=latin-1",
    "",
    "application/problem+json",
)
LEAKS = re.compile(rb"Traceback|File \"/|\.py\", line|werkzeug\.|sqlite3\.")
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
NUMBERISH = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**30), 10**400),
    st.booleans(),
    st.none(),
    st.sampled_from(
        [
            "",
            " ",
            "1e-200",
            "1e200",
            "1e308",
            "1_0e-2",
            "\u0660.\u0665",
            "0x10",
            "nan",
            "-0",
            "1e-324",
            "0.0500001",
            "0.9999999",
            "9" * 500,
            "4",
            "0.7",
            "15",
            "10000",
            "0.5",
            "per_arm",
            "on",
        ]
    ),
    TEXT,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(TEXT, st.integers(), max_size=2),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=8,
)
SEGMENT = st.one_of(
    st.integers(-5, 5).map(str),
    st.integers(0, 10**25).map(str),
    st.sampled_from(
        [
            "1",
            "2",
            "99999999999999999999",
            "9223372036854775807",
            "9223372036854775808",
            "-1",
            "0",
            "1.5",
            "..",
            "%2e%2e",
            "report.html",
            "result.json",
            "effect.png",
            "sessions.csv",
            "console.db",
            "%00",
            "%ff",
            "a%2Fb",
        ]
    ),
    TEXT.map(lambda t: urllib.parse.quote(t, safe="")),
)


class Client:
    """One keep-alive HTTP connection to the console, reopened when the server closes it."""

    def __init__(self, port: int):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=body or None, headers=headers)
                response = self.connection.getresponse()
                answer = response.read()
                if response.will_close:
                    self.connection.close()
                return response.status, answer
            except (http.client.RemoteDisconnected, ConnectionError, http.client.CannotSendRequest):
                self.connection.close()  # a connection the server dropped: once more on a new one
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`python -m console` in its own process (its own core, as `make console` runs it) and
    the application object on the same settings, for the route table."""
    workdir = tmp_path_factory.mktemp("fuzz")
    env = {
        "SILOCOMPRO_CONSOLE__DATABASE": str(workdir / "console.db"),
        "SILOCOMPRO_CONSOLE__REPORTS": str(workdir / "reports"),
        "KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
    }  # nothing listens: Start refuses at once
    console = ConsoleProcess(env, workdir / "console.log")
    try:
        for _ in range(3):  # experiments for the id routes to find
            console.post("/experiments", QUICK)
        yield Client(console.port), app_for(env), console
    finally:
        console.stop()


def paths(app) -> st.SearchStrategy[str]:
    """A path of one of the app's routes, its variables generated; or any path at all."""
    rules = sorted(rule.rule for rule in app.url_map.iter_rules())
    filled = st.one_of(
        [
            st.tuples(*[SEGMENT] * len(re.findall(r"<[^>]+>", rule))).map(lambda values, rule=rule: _fill(rule, values))
            for rule in rules
        ]
    )
    anything = st.lists(SEGMENT, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))
    query = st.dictionaries(st.sampled_from(FIELDS + ("v", "token")), TEXT, max_size=3).map(
        lambda q: f"?{urllib.parse.urlencode(q)}" if q else ""
    )
    return st.tuples(st.one_of(filled, filled, filled, anything), query).map("".join)


def _fill(rule: str, values: tuple[str, ...]) -> str:
    for value in values:
        rule = re.sub(r"<[^>]+>", value.replace("\\", "\\\\"), rule, count=1)
    return rule


def bodies() -> st.SearchStrategy[tuple[bytes, str]]:
    design = st.dictionaries(st.sampled_from(FIELDS), NUMBERISH, max_size=3).map(lambda changes: {**QUICK, **changes})
    return st.one_of(
        st.tuples(design.map(lambda d: json.dumps(d).encode()), st.just("application/json")),
        st.tuples(
            design.map(lambda d: urllib.parse.urlencode({k: str(v) for k, v in d.items()}).encode()),
            st.just("application/x-www-form-urlencoded"),
        ),
        st.tuples(JSON.map(lambda j: json.dumps(j).encode()), st.sampled_from(CONTENT_TYPES)),
        st.tuples(st.integers(1, 60_000).map(lambda n: b"[" * n + b"]" * n), st.just("application/json")),
        st.tuples(st.binary(max_size=200), st.sampled_from(CONTENT_TYPES)),
        st.tuples(st.just(b""), st.sampled_from(CONTENT_TYPES)),
    )


def test_no_generated_request_gets_a_5xx_or_a_stack_trace(served):
    client, app, console = served
    sent: list[tuple[str, str, int]] = []

    @settings(
        max_examples=REQUESTS,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(
        method=st.sampled_from(DRAWN_METHODS),
        path=paths(app),
        body=bodies(),
        origin=st.sampled_from([None, None, None, "http://attacker.example", "null"]),
    )
    def one_request(method, path, body, origin):
        payload, content_type = body
        headers = {"Host": f"127.0.0.1:{client.port}"}
        if content_type:
            headers["Content-Type"] = content_type
        if origin:
            headers["Origin"] = origin
        status, answer = client.send(method, path, payload, headers)
        sent.append((method, path, status))
        assert status < 500, (method, path, payload[:200], answer[:500])
        assert not LEAKS.search(answer), (method, path, answer[:500])
        if status >= 400 and method != "HEAD":
            if path.startswith("/api/"):
                refusal = json.loads(answer)
                assert set(refusal) == {"error", "field", "detail"}, refusal
            elif status == 422:  # the form again, the refusal next to its field
                assert b'class="field invalid"' in answer, (method, path, answer[:300])
            else:
                assert b'id="error-page"' in answer, (method, path, answer[:300])

    started = time.monotonic()
    try:
        one_request()
    finally:
        print(f"{len(sent):,} requests in {time.monotonic() - started:.0f} s")
    statuses = {status for _, _, status in sent}
    assert len(sent) >= REQUESTS
    assert "Traceback" not in console.output()  # nothing unforeseen happened inside either
    assert {200, 303, 400, 404, 405, 409, 422} <= statuses, statuses  # the fuzz reached every kind of answer
