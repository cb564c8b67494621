"""The experiment token: issued at random, kept as a digest, checked in constant time.

The job puts the token on every prediction so that the platform only counts decisions
from the job it gave the token to. Whoever holds the platform's records must not be able
to answer in the job's place, so the platform keeps the SHA-256 digest, not the token:
a 128-bit random token cannot be recovered from its digest, and checking a prediction
only needs the digest of what it carries. A lost token cannot be shown again; a new
experiment issues a new one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass


def issue() -> str:
    """A fresh token: 32 hex digits, safe in a shell line and in the job's JSON."""
    return secrets.token_hex(16)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, repr=False)
class TokenCheck:
    """Does a prediction carry the experiment's token? Knows only the token's digest."""

    sha256: str

    @classmethod
    def of(cls, token: str) -> "TokenCheck":
        return cls(digest(token))

    def matches(self, candidate: str) -> bool:
        """Constant-time, so that timing never tells how much of a guessed token is right."""
        return hmac.compare_digest(digest(candidate).encode(), self.sha256.encode())

    def __repr__(self) -> str:
        return "TokenCheck(<digest>)"
