"""The JVM's parser of the common shapes (jvm/records Shapes) from Python, through its
command-line entry point: one request per line, one answer per line. For the parity
tests (tests/unit/test_jvm_shapes.py) and the parsing benchmark, not for the job, which
runs it inside Flink (job/pipeline.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

NOT_A_SHAPE = "-"
MAIN = "com.silocompro.targeting.records.Shapes"


class JvmShapes:
    def __init__(self, jar: Path):
        self.proc = subprocess.Popen(
            ["java", "-cp", str(jar), MAIN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def _ask(self, request: str) -> str:
        self.proc.stdin.write(request + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError(f"the JVM's Shapes ended (exit {self.proc.poll()})")
        return answer.strip()

    def parse(self, side: str, payload: bytes) -> str:
        """ "uuid bits" for a history, "uuid age man woman" for a demographic, or NOT_A_SHAPE."""
        return self._ask(f"{side} {payload.hex()}")

    def time(self, side: str, payloads: list[bytes], rounds: int) -> tuple[float, int]:
        """(median µs per message over ``rounds``, after a warm-up for the JIT; how many of
        them it left to the Python parser)."""
        nanos, unrecognised, _checksum = self._ask(
            f"time {side} {rounds} " + ",".join(p.hex() for p in payloads)
        ).split()
        return float(nanos) / 1000, int(unrecognised)

    def close(self) -> int:
        self.proc.stdin.close()
        return self.proc.wait(timeout=30)
