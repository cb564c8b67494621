"""The console's HTTP interface through Flask's test client on the real application:
validation next to each field, the token's one showing, and the requests it refuses."""

from __future__ import annotations

import hashlib
import html
import json
import sqlite3
import time
from dataclasses import fields

import pytest

from console.config import load_console
from console.store import Store
from experiment import planner, tokens
from local.jobprocess import free_port
from tests.support.console import QUICK, TOKEN_IN_PAGE, app_for, create


@pytest.fixture
def client(tmp_path):
    env = {
        "SILOCOMPRO_CONSOLE__DATABASE": str(tmp_path / "console.db"),
        "SILOCOMPRO_CONSOLE__REPORTS": str(tmp_path / "reports"),
    }
    return app_for(env).test_client()


DESIGN = {"name": "n", "alpha": 0.05, "power": 0.8, "mde": 0.7, "sd": 15, "sided": "2", "treatment_share": 0.5}


@pytest.mark.parametrize(
    "field, value, says",
    [
        ("alpha", "0", "strictly between 0 and 1"),
        ("alpha", "five percent", "expected a number"),
        ("alpha", "0.9", "between 0.0001 and 0.2"),  # defect 3
        ("alpha", "1_0e-2", "expected a number such as 0.05"),  # defect 6
        ("alpha", "\u0660.\u0660\u0665", "expected a number such as 0.05"),  # defect 6: Arabic-Indic digits
        ("power", "0.03", "is not above alpha 0.05"),
        ("power", "0.0500001", "between 50 % and 99.9 %"),  # defect 3
        ("power", "1", "must be below 1"),
        ("mde", "-0.7", "must be positive"),
        ("mde", "0.01", "the local platform runs at most 200,000"),
        ("mde", "1e-200", "needs more than 1e+09 customers"),  # defect 1: OverflowError, a 500
        ("mde", "1000", "is more than the revenue sd"),  # defect 3: 4 customers planned
        ("mde", "1e308", "1.00e+308 $ is more than the revenue sd"),  # defect 3: a 300-digit amount
        ("sd", "0", "must be positive"),
        ("sd", "nan", "expected a number such as 0.05"),
        ("sd", "1e200", "beyond 1,000,000 $"),  # defect 1
        ("sd", "1e308", "beyond 1,000,000 $"),  # defect 5: it was reported under mde
        ("sided", "3", "expected 1 (treatment > control) or 2"),
        ("treatment_share", "1.5", "strictly between 0 and 1"),
        ("treatment_share", "0.0001", "between 0.05 and 0.95"),  # defect 5: it was reported under mde
        ("treatment_share", " ", "required"),
        ("sample_size", "10000", "10,000 customers give 64.6 % power at 0.70 $"),  # defect 6: it was ignored
        ("sample_size", "150", "between 200 and"),
    ],
)
def test_each_incoherent_field_is_refused_with_its_name_and_a_reason(client, field, value, says):
    answer = client.post("/api/plan", json={**DESIGN, field: value})
    assert answer.status_code == 422
    assert answer.get_json() == {"error": "unprocessable entity", "field": field, "detail": answer.get_json()["detail"]}
    assert says in answer.get_json()["detail"]
    page = client.post("/experiments", data={**DESIGN, field: value})  # the server checks again on submission
    assert page.status_code == 422
    next_to_field = page.get_data(as_text=True).split(f'id="error-{field}" role="alert">')[1].split("</span>")[0]
    assert says in html.unescape(next_to_field)
    assert client.get("/").get_data(as_text=True).count('<tr data-id="') == 0  # nothing was created


@pytest.mark.parametrize(
    "field, value, says",
    [
        ("name", "", "required"),
        ("name", "x" * 81, "at most 80 characters"),
        ("owner", "a\u202eb", "control characters"),
        ("tau", "-1", "mixing sd must be positive"),
        ("cuped", "maybe", "expected on or off"),
    ],
)
def test_metadata_is_checked_on_submission(client, field, value, says):
    page = client.post("/experiments", data={**DESIGN, field: value})
    assert page.status_code == 422
    assert says in html.unescape(page.get_data(as_text=True).split(f'id="error-{field}" role="alert">')[1])


@pytest.mark.parametrize(
    "body, content_type, status, says",
    [
        (b"[1]", "application/json", 400, "expected a JSON object, got a JSON list"),  # defect 1
        (b'"abc"', "application/json", 400, "got a JSON str"),
        (b"5", "application/json", 400, "got a JSON int"),
        (b"true", "application/json", 400, "got a JSON bool"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 413, "too large"),
        (b"[" * 30_000 + b"]" * 30_000, "application/json", 400, "nested too deeply"),  # defect 1: RecursionError
        (b"{alpha: 0.05}", "application/json", 400, "not valid JSON"),  # defect 6: it said "alpha: required"
        (b"\xff\xfe", "application/json", 400, "not valid JSON"),
        (b'{"alpha": 0.05}', "text/plain", 415, "Content-Type: application/json"),  # defect 6
        (json.dumps({**DESIGN, "alpha": "9" * 60_000}).encode(), "application/json", 422, "finite number"),
    ],
)
def test_the_plan_api_refuses_what_is_not_a_json_object_with_a_json_error(client, body, content_type, status, says):
    answer = client.post("/api/plan", data=body, content_type=content_type)
    assert answer.status_code == status and answer.is_json  # defect 6: errors came back as HTML
    refusal = answer.get_json()
    assert set(refusal) == {"error", "field", "detail"} and says in refusal["detail"], refusal
    assert len(answer.get_data()) < 1_000  # defect 6: a 1 MB value was echoed back whole


def test_ids_beyond_sqlite_are_a_404_like_any_unknown_id(client):
    """Defect 1: an id past SQLite's integer range raised OverflowError, a 500."""
    huge = "99999999999999999999"
    for method, path in (
        ("get", f"/experiments/{huge}"),
        ("get", f"/api/experiments/{huge}"),
        ("post", f"/api/experiments/{huge}/start"),
        ("get", "/experiments/9223372036854775807"),
        ("get", "/experiments/-1"),
        ("get", "/experiments/0"),
    ):
        answer = getattr(client, method)(path)
        assert answer.status_code == 404, path
    refusal = client.get(f"/api/experiments/{huge}").get_json()
    assert refusal == {"error": "not found", "field": None, "detail": refusal["detail"]}


def test_browser_errors_are_a_styled_page(client):
    """Defect 7: 404 and others were Flask's bare pages."""
    page = client.get("/no/such/page")
    assert page.status_code == 404 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert 'id="error-page"' in text and "console.css" in text and "Back to the experiments" in text
    assert "Traceback" not in text


def test_the_live_plan_is_the_planners_sample_size(client):
    answer = client.post(
        "/api/plan",
        json={"alpha": "0.05", "power": "0.8", "mde": "0.7", "sd": "15", "sided": "2", "treatment_share": "0.5"},
    ).get_json()
    assert (answer["plan"]["n_control"], answer["plan"]["n_treatment"]) == (7209, 7209)  # docs/experiment.md, make plan
    assert answer["seconds"] == pytest.approx(14418 / 150) and answer["solved"] == "sample_size"
    assert answer["curve"][-1]["customers"] == 2 * 14418 and answer["warnings"] == []


@pytest.mark.parametrize(
    "empty, unit, size, solved",
    [
        ("mde", "total", "20000", ("mde", 0.594)),  # "I have 20,000 customers: which effect can I detect?"
        ("power", "total", "10000", ("power", 0.6456)),
        ("alpha", "per_arm", "10000", ("alpha", 0.01396)),
        ("sample_size", "total", "", ("total", 14418)),
    ],
)
def test_any_three_of_the_four_settings_solve_the_fourth(client, empty, unit, size, solved):
    design = {**DESIGN, "sample_size": size, "sample_unit": unit, empty: ""}
    answer = client.post("/api/plan", json=design).get_json()
    key, value = solved
    assert answer["solved"] == empty and answer["plan"][key] == pytest.approx(value, rel=1e-3)
    client.post("/experiments", data=design)
    assert client.get("/api/experiments/1").get_json()["plan"][key] == pytest.approx(value, rel=1e-3)


def test_two_empty_settings_are_refused_naming_them(client):
    answer = client.post("/api/plan", json={**DESIGN, "power": "", "mde": ""}).get_json()
    assert (
        answer["field"] == "power" and "give three of alpha, power, minimum effect and sample size" in answer["detail"]
    )


def test_unusual_choices_come_with_warnings(client):
    answer = client.post("/api/plan", json={**DESIGN, "alpha": "0.15", "power": "0.6"}).get_json()
    assert any("above the usual 0.05" in w for w in answer["warnings"])
    assert any("below the usual 80 %" in w for w in answer["warnings"])


def test_creation_redirects_and_shows_the_token_once(client, tmp_path):
    """Defect 2: the creation POST answered with the token page, so a reload created another
    experiment. Now it redirects (303) to a page that shows the token to the browser that
    posted, once: a reload neither creates nor shows anything."""
    response = client.post("/experiments", data=QUICK)
    assert response.status_code == 303 and response.headers["Location"] == "/experiments/1/created"
    assert "TOKEN" not in response.get_data(as_text=True) and "token" not in response.headers["Location"]
    shown = client.get("/experiments/1/created")
    page = shown.get_data(as_text=True)
    token = TOKEN_IN_PAGE.search(page).group(1)
    assert f"make submit TOKEN={token}</code>" in page
    assert shown.headers["Cache-Control"] == "no-store"
    assert token not in "".join(page.split("href=")[1:]).split(">")[0]  # in no link
    again = client.get("/experiments/1/created")  # the reload
    assert again.status_code == 200 and token not in again.get_data(as_text=True)
    assert 'id="token-gone"' in again.get_data(as_text=True)
    assert client.get("/").get_data(as_text=True).count('<tr data-id="') == 1  # no second experiment
    other = client.application.test_client()  # another browser, without the cookie: nothing either
    client.post("/experiments", data=QUICK)
    assert TOKEN_IN_PAGE.search(other.get("/experiments/2/created").get_data(as_text=True)) is None
    for path in (
        "/",
        "/experiments/1",
        "/api/experiments/1",
        "/experiments/1/sessions.csv",
        "/experiments/1/sessions.json",
    ):
        shown = client.get(path)
        assert shown.status_code == 200 and token not in shown.get_data(as_text=True), path
    database = b"".join(p.read_bytes() for p in tmp_path.glob("console.db*"))
    assert token.encode() not in database
    assert hashlib.sha256(token.encode()).hexdigest().encode() in database
    _, third = create(client)
    assert third != token and len(third) == 32


def test_predictions_are_checked_in_constant_time(monkeypatch):
    calls = []
    real = tokens.hmac.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    check = tokens.TokenCheck.of("right-token")
    assert check.matches("right-token") and not check.matches("wrong") and not check.matches("right-token ")
    assert calls == [(64, 64)] * 3  # digests of equal length, whatever the guess's length
    assert "right-token" not in repr(check) and tokens.digest("right-token") not in repr(check)


def test_foreign_hosts_and_cross_site_posts_are_refused(client):
    assert client.get("/", headers={"Host": "attacker.example"}).status_code == 400  # DNS rebinding
    assert client.post("/api/plan", json={}, headers={"Origin": "http://attacker.example"}).status_code == 403
    assert client.post("/experiments", data=QUICK, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    same = client.post("/api/plan", json=QUICK, headers={"Origin": "http://localhost"})
    assert same.status_code == 200
    assert "default-src 'self'" in same.headers["Content-Security-Policy"]
    assert same.headers["X-Frame-Options"] == "DENY"


def test_loopback_by_default(tmp_path):
    assert load_console(environ={}).host == "127.0.0.1" and load_console(environ={}).loopback
    assert not load_console(overrides={"host": "0.0.0.0"}, environ={}).loopback
    assert load_console(overrides={"host": "::1"}, environ={}).loopback


def test_unknown_experiments_and_files_are_404(client):
    assert client.get("/experiments/7").status_code == 404
    assert client.post("/api/experiments/7/start").status_code == 404
    create(client)
    assert client.get("/experiments/1/report/../console.db").status_code == 404
    assert client.get("/experiments/1/report/secrets.txt").status_code == 404
    assert client.get("/experiments/1/report/result.json").status_code == 404  # not analysed yet
    assert client.get("/experiments/1/sessions.xml").status_code == 404


def test_archive_and_delete(client, tmp_path):
    create(client)
    create(client, name="second")
    assert client.post("/experiments/1/archive").status_code == 303
    index = client.get("/").get_data(as_text=True)
    current, archived = index.split('<details id="archived">')
    assert '<tr data-id="2">' in current and '<tr data-id="1">' in archived and "Archived (1)" in archived
    client.post("/experiments/1/archive")  # unarchive
    assert '<details id="archived">' not in client.get("/").get_data(as_text=True)
    (tmp_path / "reports" / "2").mkdir(parents=True)
    assert client.post("/experiments/2/delete").status_code == 303
    assert client.get("/experiments/2").status_code == 404 and not (tmp_path / "reports" / "2").exists()
    assert client.get("/api/experiments/1").status_code == 200


def test_metadata_and_analysis_settings_are_recorded(client):
    create(
        client,
        name="December targeting",
        owner="ds-team",
        hypothesis="the new model adds 4 $",
        cuped="",
        sequential="on",
        tau="2.5",
    )
    body = client.get("/api/experiments/1").get_json()
    assert body["settings"] == {
        "name": "December targeting",
        "owner": "ds-team",
        "hypothesis": "the new model adds 4 $",
        "cuped": False,
        "sequential": True,
        "tau": 2.5,
    }
    page = html.unescape(client.get("/experiments/1").get_data(as_text=True))
    assert "CUPED off, sequential testing on (mSPRT, tau 2.50 $/customer)" in page
    assert "the new model adds 4 $" in page


def test_numbers_are_shown_with_the_digits_they_need_in_one_unit(client):
    """Defect 4: 0.004 $ showed as 0.00, alpha 0.001's always-valid interval as 100 %, and
    revenue came in $/customer and $/session."""
    create(client, mde="0.004", sd="0.01", alpha="0.001")
    index = html.unescape(client.get("/").get_data(as_text=True))
    assert "effect 0.0040 $/customer, sd 0.010 $/customer" in index and "α 0.1 %" in index
    page = html.unescape(client.get("/experiments/1").get_data(as_text=True))
    assert "always-valid 99.9 % interval" in page and "0.0040 $/customer" in page
    for text in (index, page, html.unescape(client.get("/experiments/1/created").get_data(as_text=True))):
        assert "$/session" not in text and "0.00 $" not in text


def test_start_refuses_at_once_when_the_broker_is_unreachable(tmp_path):
    """Defect 8: Start spent ~12 s scoring models before finding no broker. Now it checks
    first, answers within 2 s, and says what to run."""
    closed = free_port()
    client = app_for(
        {
            "SILOCOMPRO_CONSOLE__DATABASE": str(tmp_path / "console.db"),
            "SILOCOMPRO_CONSOLE__REPORTS": str(tmp_path / "reports"),
            "KAFKA_BOOTSTRAP": f"127.0.0.1:{closed}",
        }
    ).test_client()
    create(client)
    started = time.monotonic()
    answer = client.post("/api/experiments/1/start")
    assert time.monotonic() - started < 2
    assert answer.status_code == 409 and f"cannot reach the broker at 127.0.0.1:{closed}" in answer.get_json()["detail"]
    assert "make broker-up" in answer.get_json()["detail"] and "make submit TOKEN=" in answer.get_json()["detail"]
    assert client.get("/api/experiments/1").get_json()["state"] == "created"


def test_an_unforeseen_failure_is_a_500_that_names_no_internals(tmp_path, monkeypatch):
    """The last resort the fuzz test proves unreachable: logged, and answered in the
    console's format without a traceback."""
    app = app_for(
        {
            "SILOCOMPRO_CONSOLE__DATABASE": str(tmp_path / "console.db"),
            "SILOCOMPRO_CONSOLE__REPORTS": str(tmp_path / "reports"),
        }
    )
    app.testing = False  # handled as in production
    monkeypatch.setattr(app.config["store"], "all", lambda: 1 / 0)
    monkeypatch.setattr("console.forms.resolve", lambda **_: 1 / 0)
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 500 and 'id="error-page"' in page.get_data(as_text=True)
    answer = client.post("/api/plan", json=DESIGN)
    assert answer.status_code == 500 and answer.get_json()["error"] == "internal server error"
    for text in (page.get_data(as_text=True), answer.get_data(as_text=True)):
        assert "ZeroDivisionError" not in text and "Traceback" not in text


def test_a_database_from_before_the_settings_column_still_opens(tmp_path):
    """Experiments created by an older console keep working: the new columns are added."""
    path = tmp_path / "console.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE experiments (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, "
            "plan TEXT NOT NULL, salt TEXT NOT NULL, token_sha256 TEXT NOT NULL, state TEXT NOT NULL, "
            "message TEXT NOT NULL DEFAULT '', verdict TEXT)"
        )
        plan = planner.sample_size(0.05, 0.8, 4.0, 15.0)
        db.execute(
            "INSERT INTO experiments (created_at, plan, salt, token_sha256, state) VALUES (0, ?, 's', 'd', 'created')",
            (json.dumps({f.name: getattr(plan, f.name) for f in fields(plan)}),),
        )
    experiment = Store(path).get(1)
    assert experiment.plan == plan and experiment.settings.name == "experiment 1" and not experiment.archived
