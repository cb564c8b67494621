"""What Start checks before it spends anything (the offline scoring of both models takes
seconds): that something listens at the broker's address. A bare TCP connect, as the
Makefile's LISTENING does: it sends nothing, answers within ``timeout`` even when the port
is closed, and a secured broker never sees a plaintext request from it."""

from __future__ import annotations

import socket
from typing import Optional


def unreachable(bootstrap: str, timeout: float = 1.0) -> Optional[str]:
    """None if one of the bootstrap servers accepts a connection, else why not."""
    reasons = []
    for server in filter(None, (s.strip() for s in bootstrap.split(","))):
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=timeout):
                return None
        except (OSError, ValueError) as err:
            reasons.append(f"{server}: {err}")
    return "; ".join(reasons) or "no bootstrap server configured"
