"""The console's settings: conf/console.yaml, then SILOCOMPRO_CONSOLE__<KEY> env vars,
then command-line flags, validated before anything is served."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from job.config import REPO_ROOT, ConfigError, Section, prefixed_overrides, read_overridden

DEFAULT_CONSOLE = REPO_ROOT / "conf" / "console.yaml"
ENV_PREFIX = "SILOCOMPRO_CONSOLE__"
LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class ConsoleConfig:
    host: str
    port: int
    database: Path
    reports: Path
    job_wait_s: float
    max_sessions: int

    @property
    def loopback(self) -> bool:
        if self.host in LOOPBACK_NAMES:
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def load_console(
    path: Path = DEFAULT_CONSOLE,
    overrides: Mapping[str, object] | None = None,
    environ: Optional[Mapping[str, str]] = None,
) -> ConsoleConfig:
    env = prefixed_overrides(os.environ if environ is None else environ, ENV_PREFIX)
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    root = Section(read_overridden(path, env, flags), "console")
    port = root.integer("port", 0)
    if port > 65535:
        raise ConfigError(f"console.port: expected a port number, got {port}")
    return ConsoleConfig(
        host=root.text("host"),
        port=port,
        database=root.path("database"),
        reports=root.path("reports"),
        job_wait_s=root.number("job_wait_s", 0),
        max_sessions=root.integer("max_sessions", 4),
    )
