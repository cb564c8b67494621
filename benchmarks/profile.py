"""Where the decision job's Python time goes: py-spy on its TaskManager under paced load.

    python -m benchmarks.profile [--rate 600] [--seconds 20] [--set section.key=value ...]

The job runs as in the benchmark (a local MiniCluster in thread mode on a private broker,
specification-shaped traffic). In thread mode every Python operator runs on CPython
embedded in the TaskManager's JVM (PemJa), so py-spy samples that JVM process; one
interpreter, one GIL, so the samples of all operators add up to at most one core. The
result: the sampled stacks (collapsed, for flamegraph.pl or speedscope.app) and the
functions with the most samples, by own time and by the time spent under them, in
benchmarks/results/profile-<time>.{collapsed,txt}.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.endtoend import Running, Verdicts
from local.jobprocess import PrivateBroker
from local.traffic import customers

RESULTS = Path(__file__).resolve().parent / "results"


def jvm_of(pid: int) -> int:
    """The job's JVM: the java process of the job's process group that has CPython loaded
    (the client also starts pypmml's JVM, to check the model)."""
    for candidate in subprocess.run(["pgrep", "-g", str(pid), "java"], capture_output=True, text=True).stdout.split():
        if "libpython" in Path(f"/proc/{candidate}/maps").read_text():
            return int(candidate)
    raise RuntimeError(f"no JVM with an embedded Python in the job's process group {pid}")


def summarise(collapsed: Path, top: int = 25) -> str:
    """py-spy's collapsed stacks ("frame;frame;... count") → the heaviest functions."""
    own, under, total, idle = collections.Counter(), collections.Counter(), 0, 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, n = [f for f in stack.split(";") if f.strip()], int(count)
        if not frames:  # a thread of the interpreter with no Python frame: not Python time
            idle += n
            continue
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            under[frame] += n
    lines = [
        f"{total:,} samples of Python running in the TaskManager (the GIL's holder; {idle:,} more with no "
        "Python frame), by function (file:line):"
    ]
    for title, counter in (("own time", own), ("time under (inclusive)", under)):
        lines.append(f"\nby {title}:")
        lines += [f"{100 * n / total:6.1f} %  {frame}" for frame, n in counter.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=600.0, help="sessions/s offered while sampling")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long py-spy samples")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"profile-{time.strftime('%Y%m%dT%H%M%S')}"
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        broker = PrivateBroker(Path(tmp) / "kafka")
        job = None
        try:
            job = Running("decision", broker.bootstrap, Path(tmp), list(args.set), Verdicts(tuple(args.set)))
            people = customers(int(args.rate * (args.seconds + 15)), seed=11, uuid_base=int(time.time()) * 1000)
            load = threading.Thread(target=job.drive, args=(people, args.rate, 11), daemon=True)
            load.start()
            time.sleep(5)  # past the first seconds of the load
            jvm = jvm_of(job.job.proc.pid)
            print(
                f"sampling the TaskManager JVM {jvm} for {args.seconds:.0f} s at {args.rate:,.0f} sessions/s",
                flush=True,
            )
            subprocess.run(
                [
                    spy,
                    "record",
                    "--pid",
                    str(jvm),
                    "--duration",
                    str(int(args.seconds)),
                    "--rate",
                    "100",
                    "--gil",
                    "--format",
                    "raw",
                    "--output",
                    f"{stem}.collapsed",
                    "--nonblocking",
                ],
                check=True,
            )
            load.join()
        finally:
            if job is not None:
                job.stop()
            broker.stop()
    report = summarise(Path(f"{stem}.collapsed"))
    Path(f"{stem}.txt").write_text(report + "\n")
    print(report)
    print(f"\nstacks: {stem}.collapsed (flamegraph.pl or speedscope.app read them); summary: {stem}.txt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
