"""The token's one showing, for post/redirect/get.

The creation POST cannot answer with the token (a reload would re-send it and create
another experiment), and the token must never be in a URL. So the POST keeps the token
here under a random nonce, sets the nonce as a cookie scoped to the experiment's
``created`` page, and redirects there; that GET takes the token out, once. A reload finds
nothing and says so. Tokens not collected within ``TTL_S`` are forgotten, and the console
keeps them in memory only: a restart forgets them too."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from typing import Optional

TTL_S = 600.0


class OneTimeReveal:
    def __init__(self, ttl_s: float = TTL_S):
        self.ttl_s = ttl_s
        self._pending: dict[int, tuple[str, str, float]] = {}  # id -> (nonce, token, expiry)
        self._lock = threading.Lock()

    def put(self, experiment_id: int, token: str) -> str:
        """Keep ``token`` for one showing; the nonce the browser must present to see it."""
        nonce = secrets.token_urlsafe(24)
        with self._lock:
            self._drop_expired()
            self._pending[experiment_id] = (nonce, token, time.monotonic() + self.ttl_s)
        return nonce

    def take(self, experiment_id: int, nonce: Optional[str]) -> Optional[str]:
        """The token, once, to the browser holding the nonce; None ever after."""
        with self._lock:
            self._drop_expired()
            kept = self._pending.get(experiment_id)
            if kept is None or not nonce or not hmac.compare_digest(kept[0].encode(), nonce.encode()):
                return None
            del self._pending[experiment_id]
            return kept[1]

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for experiment_id in [i for i, (_, _, expiry) in self._pending.items() if expiry < now]:
            del self._pending[experiment_id]
