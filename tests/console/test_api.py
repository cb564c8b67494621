"""The console's HTTP interface through Flask's test client on the real application:
validation next to each field, the token's one showing, and the requests it refuses."""
from __future__ import annotations

import hashlib
import html

import pytest

from console.config import load_console
from experiment import tokens
from tests.console.conftest import QUICK, TOKEN_IN_PAGE, app_for, create


@pytest.fixture
def client(tmp_path):
    env = {"SILOCOMPRO_CONSOLE__DATABASE": str(tmp_path / "console.db"),
           "SILOCOMPRO_CONSOLE__REPORTS": str(tmp_path / "reports")}
    return app_for(env).test_client()



@pytest.mark.parametrize("field, value, says", [
    ("alpha", "0", "strictly between 0 and 1"),
    ("alpha", "five percent", "expected a number"),
    ("power", "0.03", "is not above alpha 0.05"),
    ("power", "1", "must be below 1"),
    ("mde", "-0.7", "must be positive"),
    ("mde", "0.01", "the local platform runs at most 200,000"),
    ("sd", "0", "must be positive"),
    ("sd", "nan", "finite number"),
    ("sided", "3", "expected 1 (treatment > control) or 2"),
    ("treatment_share", "1.5", "strictly between 0 and 1"),
    ("treatment_share", " ", "required"),
])
def test_each_incoherent_field_is_refused_with_its_name_and_a_reason(client, field, value, says):
    design = {"alpha": 0.05, "power": 0.8, "mde": 0.7, "sd": 15, "sided": "2", "treatment_share": 0.5}
    answer = client.post("/api/plan", json={**design, field: value})
    assert answer.status_code == 422
    assert answer.get_json()["field"] == field and says in answer.get_json()["message"]
    page = client.post("/experiments", data={**design, field: value})  # the server checks again on submission
    assert page.status_code == 422
    next_to_field = page.get_data(as_text=True).split(f'id="error-{field}" role="alert">')[1].split("</span>")[0]
    assert says in html.unescape(next_to_field)
    assert client.get("/").get_data(as_text=True).count("/experiments/") == 0  # nothing was created


def test_the_live_plan_is_the_planners_sample_size(client):
    answer = client.post("/api/plan", json={"alpha": "0.05", "power": "0.8", "mde": "0.7", "sd": "15",
                                            "sided": "2", "treatment_share": "0.5"}).get_json()
    assert (answer["plan"]["n_control"], answer["plan"]["n_treatment"]) == (7209, 7209)  # README, make plan
    assert answer["seconds"] == pytest.approx(14418 / 150)


def test_the_token_is_shown_once_and_only_its_digest_is_kept(client, tmp_path):
    response = client.post("/experiments", data=QUICK)
    page = response.get_data(as_text=True)
    token = TOKEN_IN_PAGE.search(page).group(1)
    assert f"make submit TOKEN={token}</code>" in page
    assert response.headers["Cache-Control"] == "no-store"
    assert token not in "".join(page.split("href=")[1:]).split(">")[0]  # in no link
    for path in ("/", "/experiments/1", "/api/experiments/1", "/experiments/1/sessions.csv",
                 "/experiments/1/sessions.json"):
        shown = client.get(path)
        assert shown.status_code == 200 and token not in shown.get_data(as_text=True), path
    database = b"".join(p.read_bytes() for p in tmp_path.glob("console.db*"))
    assert token.encode() not in database
    assert hashlib.sha256(token.encode()).hexdigest().encode() in database
    _, second = create(client)
    assert second != token and len(second) == 32


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
    assert client.get("/experiments/1/sessions.xml").status_code == 404
