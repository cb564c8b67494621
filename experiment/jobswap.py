"""Make room for the job about to be submitted: cancel the active job of the same name.

    python -m experiment.jobswap [-- JOB_ARGS]        (make submit runs it)

A new experiment hands the job a new token (``make submit TOKEN=...``). A job of the same
name still running (the demo's, with the local token, or the last experiment's) would read
the same topics and answer every session a second time with the wrong token, so it is
cancelled first and the submission waits until it is gone. Cancelled, not stopped with a
savepoint: a job still deploying its tasks refuses a savepoint, and its join state means
nothing to a new experiment. The name is the configured one (conf/job.yaml, env, and the
``--set flink.job_name=...`` among the job's arguments), so jobs of other names are left alone.
"""
from __future__ import annotations

import argparse
import sys
import time

from job.config import ConfigError, load_config, parse_set_flags
from job.local.cluster import FlinkRest, rest_url


def cancel_active(rest: FlinkRest, name: str, timeout: float = 60.0) -> list[str]:
    """Cancel every active job called ``name``; their ids, once none is active any more."""
    ids = [job["jid"] for job in rest.jobs(name)]
    for job_id in ids:
        rest.cancel(job_id)
    deadline = time.monotonic() + timeout
    while rest.jobs(name):
        if time.monotonic() > deadline:
            raise SystemExit(f"job {name!r} still active {timeout:.0f} s after it was cancelled; see {rest.base}")
        time.sleep(0.5)
    return ids


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job_args = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--set", action="append", default=[])
    known, _ = parser.parse_known_args(job_args)
    try:
        name = load_config(overrides=parse_set_flags(known.set)).flink.job_name
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rest = FlinkRest(rest_url())
    try:
        for job_id in cancel_active(rest, name):
            print(f"cancelled the running job {job_id} ({name}): the new submission replaces it")
    except OSError:
        pass  # no cluster answers: nothing to replace, and the submission says why it cannot run
    return 0


if __name__ == "__main__":
    sys.exit(main())
