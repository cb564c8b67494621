"""SASL_SSL for real: a broker of the test's own whose one listener requires SCRAM-SHA-512
over TLS, with a CA and certificate the test makes.

The job (submitted with `make submit` to the suite's cluster), `job.model_cli` (what `make
model-push` runs) and the experiment platform (what the console drives) connect with the
settings docs/cluster.md gives, the password only in the environment. A wrong password fails
each tool with one clear sentence and a handful of login attempts, not a retry storm. The
password and the experiment token appear in no log, no Flink REST answer, no dead letter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid as uuidlib

import pytest

from job.config import load_config
from job.topic_reader import TopicReader
from local.jobprocess import PrivateBroker
from local.kafka import SaslSsl
from local.stack import REPO
from local.traffic import customers, plan_sessions, produce
from tests.support.accounting import decisions_by_uuid, tally
from tests.support.reliability import TOKEN
from tests.support.timeline import read_until
from tests.support.tls import make_certificates

pytestmark = pytest.mark.slow

PASSWORD = "scram-" + uuidlib.uuid4().hex
USER = "targeting"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    directory = tmp_path_factory.mktemp("secured-kafka")
    certificates = make_certificates(directory / "certs")
    broker = PrivateBroker(
        directory / "broker",
        SaslSsl(certificates.keystore, certificates.ca, {"broker": "broker-" + uuidlib.uuid4().hex, USER: PASSWORD}),
    )
    env = {
        "KAFKA_BOOTSTRAP": broker.bootstrap,
        "SILOCOMPRO__KAFKA__SECURITY__PROTOCOL": "SASL_SSL",
        "SILOCOMPRO__KAFKA__SECURITY__USERNAME": USER,
        "SILOCOMPRO__KAFKA__SECURITY__CA_FILE": str(certificates.ca),
        "SILOCOMPRO_KAFKA_PASSWORD": PASSWORD,
    }
    yield broker, env
    broker.stop()


@pytest.fixture(scope="module")
def run(stack, new_job, secured):
    broker, env = secured
    client = load_config(environ=env).kafka.security.librdkafka()
    job = new_job(env=env, bootstrap=broker.bootstrap, client=client)
    job.submit()
    plan = plan_sessions(customers(200, seed=5, uuid_base=95_000_000), seed=5, malformed_share=0.05)
    predictions = job.reader("prediction")
    produce(broker.bootstrap, job.sides(), plan.messages, extra=client)
    decisions = read_until(predictions, lambda got: len(decisions_by_uuid(got)) >= len(plan.complete), idle=60)
    letters = read_until(job.reader("dead_letter"), lambda got: len(got) >= plan.malformed, idle=20)
    rest = {
        path: json.dumps(stack.flink.call(path))
        for path in (f"/jobs/{job.id}", f"/jobs/{job.id}/config", f"/jobs/{job.id}/plan", "/jobmanager/config")
    }
    yield {"job": job, "plan": plan, "decisions": decisions, "letters": letters, "rest": rest, "client": client}
    job.cancel()


def tool(module: str, *args: str, env: dict, timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env={**_base_env(), **env},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout,
    )
    return done, time.monotonic() - started


def _base_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("SILOCOMPRO")} | {"SILOCOMPRO_TOKEN": TOKEN}


def test_the_job_decides_every_session_over_sasl_ssl(run):
    counts = tally({uuid: 1 for uuid in run["plan"].complete}, decisions_by_uuid(run["decisions"]))
    assert (counts.lost, counts.duplicated) == (0, 0), counts
    assert len(run["letters"]) == run["plan"].malformed


def test_model_cli_and_platform_connect_with_credentials_from_the_environment(run, secured):
    _, env = secured
    topics = [f"--set=kafka.topics.{role}={name}" for role, name in run["job"].topics.items()]
    listed, _ = tool("job.model_cli", *topics, "list", "--idle", "1", env=env)
    assert listed.returncode == 0, listed.stdout
    assert PASSWORD not in listed.stdout

    # The experiment platform (and so the console) reads predictions exactly like this:
    # a TopicReader with the security section's librdkafka settings.
    cfg = load_config(environ=env, overrides={f"kafka.topics.{r}": n for r, n in run["job"].topics.items()})
    reader = TopicReader(cfg.kafka.bootstrap_servers, cfg.kafka.topics.prediction, extra=run["client"])
    try:
        assert reader.poll(5), "a platform-style reader over SASL_SSL saw none of the job's decisions"
    finally:
        reader.close()


@pytest.mark.parametrize("module,args", [("job.model_cli", ["list"]), ("job.main", [])])
def test_a_wrong_password_fails_fast_with_a_clear_message(run, secured, module, args):
    broker, env = secured
    log = broker.node.log
    attempts_before = log.read_text(errors="replace").count("Failed authentication")
    done, seconds = tool(module, *args, env={**env, "SILOCOMPRO_KAFKA_PASSWORD": "wrong-" + PASSWORD})
    time.sleep(1)  # the broker logs a refused login after answering it
    attempts = log.read_text(errors="replace").count("Failed authentication") - attempts_before
    assert done.returncode != 0
    assert "refused the credentials" in done.stdout and "SILOCOMPRO_KAFKA_PASSWORD" in done.stdout, done.stdout
    assert "Traceback" not in done.stdout
    assert seconds < 60 and attempts <= 5, (seconds, attempts)


def test_password_and_token_are_in_no_log_rest_answer_or_dead_letter(run, stack, secured):
    broker, _ = secured
    places = {
        "flink logs": stack.logs(),
        "submission output": run["job"].client_output,
        "broker log": broker.node.log.read_text(errors="replace"),
        "dead letters": json.dumps(run["letters"]),
        **run["rest"],
    }
    for secret in (PASSWORD, TOKEN):
        leaked = [name for name, text in places.items() if secret in text]
        assert not leaked, f"a secret appears in {leaked}"
