"""The console in a real browser (Debian's Chromium driven by playwright-core), with the
real job started with the token the page issued, on a private broker.

Screenshots of every step go to artifacts/console/ (ignored by git).
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from local.jobprocess import REPO, JobProcess
from tests.support.console import ARTIFACTS, ConsoleProcess, console_env
from tests.support.fixtures import FIXTURES

BROWSER_DIR = REPO / "tests" / "console" / "browser"


@pytest.mark.slow
@pytest.mark.browser
def test_a_newcomer_configures_an_experiment_and_watches_it_run(broker, tmp_path):
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.fail("playwright-core is not installed: run `make browser-deps` (make test does)")
    job = JobProcess(
        broker, tmp_path, token="", flags=[f"model.pmml={FIXTURES / 'model.pmml'}", "flink.checkpoint_interval_ms=2000"]
    )
    # a MiniCluster on a busy machine can take minutes to answer its first session
    console = ConsoleProcess(
        {**console_env(broker, job.topics, tmp_path, rate=60), "SILOCOMPRO_CONSOLE__JOB_WAIT_S": "360"},
        tmp_path / "console.log",
    )
    token_file = tmp_path / "token"
    flow = subprocess.Popen(
        ["node", "console_flow.mjs"],
        cwd=BROWSER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "CONSOLE_URL": console.url, "TOKEN_FILE": str(token_file), "ARTIFACTS": str(ARTIFACTS)},
    )
    try:
        give_up = time.monotonic() + 120
        while not token_file.exists() and flow.poll() is None and time.monotonic() < give_up:
            time.sleep(0.2)
        assert token_file.exists(), flow.communicate(timeout=10)[0]
        time.sleep(0.2)  # the file is written in one call; let it land whole
        job.token = token_file.read_text()
        job.launch()  # the page's Start is already waiting for it
        out, _ = flow.communicate(timeout=600)
    finally:
        if flow.poll() is None:
            flow.kill()
        job.stop()
        console.stop()
    assert flow.returncode == 0, f"{out}\n--- console log ---\n{console.output()[-3000:]}"
    seen = json.loads(out.strip().splitlines()[-1])
    for refusal in (seen["live_refusal"], seen["server_refusal"]):  # the incoherent four
        assert "10,000 customers give 64.6 % power at 0.70 $" in refusal and "80 % needs 14,418" in refusal
    assert "Minimum effect" in seen["fixed_traffic"] and "= 0.59 $" in seen["fixed_traffic"]
    assert seen["copy_fallback"] == "Press Ctrl+C" and seen["start_feedback_ms"] < 2000
    assert seen["action_error"] == "experiment 1 is done"  # defect 6: an action's refusal showed nothing
    assert all(overflow <= 0 for overflow in seen["overflow"].values()) and len(seen["overflow"]) == 7
    assert seen["decisions"]["wrong_token"] == "0" and seen["sessions"].startswith(seen["planned"])
    assert job.token not in console.output() and job.token not in job.output()
    steps = (
        ["1-form", "2-refused-live", "3-refused-by-server", "4-created", "5-waiting-for-the-job", "6-live", "7-verdict"]
        + [f"{page}-{width}px" for page in ("form", "created", "verdict") for width in (380, 1280)]
        + ["form-1700px"]
    )
    for step in steps:
        assert (ARTIFACTS / f"{step}.png").stat().st_size > 10_000, step
