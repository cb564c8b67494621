"""The console against real parts: its Flask app in-process or `python -m console` as a
process, topics on a private broker, and a responder that answers like the job would."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid as uuidlib
from pathlib import Path

from confluent_kafka import Producer

from console.app import create_app
from console.config import load_console
from experiment.config import load_experiment
from job.config import load_config
from job.topic_reader import TopicReader
from local.broker import create_topics
from local.jobprocess import REPO, TOPIC_ROLES, free_port
from local.processes import wait_for_port
from tests.support.fixtures import FIXTURES

TOKEN_IN_PAGE = re.compile(r'<code id="token">([0-9a-f]{32})</code>')
ARTIFACTS = REPO / "artifacts" / "console"
# A design small enough to run in seconds: a 4 $ effect at sd 15 needs about 440 customers.
QUICK = {
    "name": "quick",
    "alpha": "0.05",
    "power": "0.8",
    "mde": "4",
    "sd": "15",
    "sided": "2",
    "treatment_share": "0.5",
    "cuped": "on",
    "sequential": "on",
}


def console_env(
    bootstrap: str, topics: dict[str, str], workdir: Path, rate: int = 150, deadline_ms: int = 2000
) -> dict[str, str]:
    """Every setting the console needs for a test, as the env vars a user would set."""
    return {
        "KAFKA_BOOTSTRAP": bootstrap,
        **{f"SILOCOMPRO__KAFKA__TOPICS__{role.upper()}": name for role, name in topics.items()},
        "SILOCOMPRO__MODEL__PMML": str(FIXTURES / "model.pmml"),
        "SILOCOMPRO_EXPERIMENT__PLATFORM__CONTROL_PMML": str(FIXTURES / "baseline.pmml"),
        "SILOCOMPRO_EXPERIMENT__PLATFORM__RATE": str(rate),
        "SILOCOMPRO_EXPERIMENT__PLATFORM__DECISION_DEADLINE_MS": str(deadline_ms),
        "SILOCOMPRO_CONSOLE__DATABASE": str(workdir / "console.db"),
        "SILOCOMPRO_CONSOLE__REPORTS": str(workdir / "reports"),
        "SILOCOMPRO_CONSOLE__JOB_WAIT_S": "120",
    }


def app_for(env: dict[str, str]):
    """A new application object on the settings (and the SQLite file) of ``env``."""
    app = create_app(load_console(environ=env), load_experiment(environ=env), load_config(environ=env))
    app.testing = True
    return app


def new_topics(bootstrap: str) -> dict[str, str]:
    suffix = uuidlib.uuid4().hex[:8]
    topics = {role: f"console_{role}_{suffix}" for role in TOPIC_ROLES}
    create_topics(bootstrap, list(topics.values()))
    return topics


def create(client, **fields: str) -> tuple[int, str]:
    """Submit the form and follow its redirect; the new experiment's id and the token its page showed."""
    response = client.post("/experiments", data={**QUICK, **fields})
    assert response.status_code == 303, response.get_data(as_text=True)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    experiment_id = int(re.search(r"Experiment (\d+) created", page).group(1))
    return experiment_id, TOKEN_IN_PAGE.search(page).group(1)


def wait_for(client, experiment_id: int, done, timeout: float) -> dict:
    """Poll the live view's JSON until ``done(body)``."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        body = client.get(f"/api/experiments/{experiment_id}").get_json()
        if done(body):
            return body
        time.sleep(0.3)
    raise AssertionError(f"experiment {experiment_id} still {body['state']}: {body['message']}")


class Responder:
    """Answers each session's demographic half on the prediction topic, as the job would;
    ``token_for(uuid)`` picks the token it answers with (None: no answer)."""

    def __init__(self, bootstrap: str, topics: dict[str, str], token_for):
        self.reader = TopicReader(bootstrap, topics["demographic"])
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2})
        self.topic, self.token_for = topics["prediction"], token_for
        self.answered: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._answer, daemon=True)
        self._thread.start()

    def _answer(self) -> None:
        while not self._stop.is_set():
            for _, message in self.reader.poll(0.1):
                uuid = int(re.search(rb"uuid['\"]: (\d+)", message.value()).group(1))
                token = self.token_for(uuid)
                if token is None or uuid in self.answered:
                    continue
                self.answered[uuid] = token
                self.producer.produce(
                    self.topic,
                    key=str(uuid).encode(),
                    value=json.dumps({"uuid": uuid, "value": uuid % 2, "token": token}).encode(),
                )
            self.producer.poll(0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.producer.flush(10)
        self.reader.close()


class ConsoleProcess:
    """`python -m console` on a free port, as `make console` runs it."""

    def __init__(self, env: dict[str, str], log: Path):
        self.port, self.log = free_port(), log
        self.url = f"http://127.0.0.1:{self.port}"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "console", "--port", str(self.port)],
                cwd=REPO,
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for_port("127.0.0.1", self.port, 60, "the console", log)
        # a browser's cookies: the creation's redirect shows the token to the client that posted
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def post(self, path: str, form: dict[str, str]) -> str:
        """The page a form post ends on, redirects followed."""
        data = urllib.parse.urlencode(form).encode()
        with self.opener.open(urllib.request.Request(self.url + path, data=data), timeout=30) as response:
            return response.read().decode()

    def get_json(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.loads(response.read())

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
