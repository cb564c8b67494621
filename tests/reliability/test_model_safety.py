"""A model that cannot be trusted stops the job at start, through the real entry points:
`python -m job.main --check` and a real `make submit` to the suite's cluster. The unit
tests (tests/unit/test_model.py) cover the checks themselves; these cover that the
commands act on them: a clear one-line error, exit code 2, no traceback, no job."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.support.fixtures import FIXTURES
from tests.support.reliability import TOKEN

pytestmark = pytest.mark.slow


def _strip_verification(text: str) -> str:
    start, end = text.index("<ModelVerification"), text.index("</ModelVerification>")
    return text[:start] + text[end + len("</ModelVerification>") :]


# (name, edit of the PMML text, keep the metadata's checksum, what the error must say)
BAD_MODELS = [
    ("corrupt", lambda text: text[: len(text) // 2], False, "not well-formed XML"),
    (
        "edited after training",
        lambda text: text.replace("<Header", "<!-- x --><Header", 1),
        True,
        "pmml_sha256 differs",
    ),
    (
        "fails its own verification",
        lambda text: text.replace("<data:probability_1>0.", "<data:probability_1>0.9", 1),
        False,
        "verification row",
    ),
    ("no verification data", _strip_verification, False, "no verification data"),
    (
        "inputs the messages lack",
        lambda text: text.replace('name="age"', 'name="income"'),
        False,
        "input fields the messages do not carry",
    ),
]


def bad_model(directory, edit, keep_checksum: bool):
    """A copy of the fixture model, edited; without the checksum, as a hand edit would be."""
    pmml, meta = directory / "model.pmml", directory / "model.json"
    shutil.copy(FIXTURES / "model.json", meta)
    pmml.write_text(edit((FIXTURES / "model.pmml").read_text()))
    if not keep_checksum:
        meta.write_text(json.dumps({k: v for k, v in json.loads(meta.read_text()).items() if k != "pmml_sha256"}))
    return pmml


def assert_refused(done, message: str) -> None:
    """Refused with the message on an ``error:`` line, no Python traceback, no token."""
    assert done.returncode != 0, done.stdout[-2000:]
    assert any(line.startswith("error: ") and message in line for line in done.stdout.splitlines()), done.stdout[-2000:]
    assert "Traceback" not in done.stdout and TOKEN not in done.stdout


@pytest.mark.parametrize("name, edit, keep_checksum, message", BAD_MODELS, ids=[m[0] for m in BAD_MODELS])
def test_check_refuses_an_untrustworthy_model(stack, tmp_path, name, edit, keep_checksum, message):
    pmml = bad_model(tmp_path, edit, keep_checksum)
    done = stack.module("job.main", "--check", f"--set=model.pmml={pmml}", check=False)
    assert done.returncode == 2
    assert_refused(done, message)


def test_check_refuses_a_missing_model(stack, tmp_path):
    done = stack.module("job.main", "--check", f"--set=model.pmml={tmp_path / 'model.pmml'}", check=False)
    assert done.returncode == 2
    assert_refused(done, "model file not found")


def test_submission_with_an_unverifiable_model_fails_and_starts_no_job(stack, tmp_path):
    pmml = bad_model(tmp_path, BAD_MODELS[2][1], keep_checksum=False)
    jobs_before = stack.flink.call("/jobs/overview")["jobs"]
    done = stack.make(
        "submit", f"JOB_ARGS=--set=model.pmml={pmml} --set=flink.job_name=never-{tmp_path.name}", check=False
    )
    assert_refused(done, "verification row")
    assert stack.flink.call("/jobs/overview")["jobs"] == jobs_before
