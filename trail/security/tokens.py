"""Bearer secrets (API keys, wall, share and invitation tokens): generation, storage hash, display prefix."""

from __future__ import annotations

import hashlib
import secrets

SECRET_BYTES = 24  # 192 bits of entropy, well above the 128-bit floor
DISPLAY_CHARS = 6  # random characters shown after the prefix, e.g. "trl_AbC12x"

API_KEY_PREFIX = "trl"
WALL_PREFIX = "wall"
SHARE_PREFIX = "shr"
INVITE_PREFIX = "inv"


def new_secret(prefix: str) -> str:
    """A new URL-safe secret such as "trl_<32 chars>": the prefix names its kind, the rest is 192 random bits."""
    prefix = prefix.rstrip("_")
    if not prefix or not prefix.isalnum():
        raise ValueError(f"a secret prefix must be letters or digits, got {prefix!r}")
    return f"{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"


def hash_token(token: str) -> str:
    """The SHA-256 hex digest stored instead of the token; unsalted is enough because tokens are high-entropy."""
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def display_prefix(token: str) -> str:
    """The start of a token that is safe to show and store to tell keys apart (kind prefix + 6 characters)."""
    token = token.strip()
    kind, sep, rest = token.partition("_")
    if not sep:
        return token[:DISPLAY_CHARS]
    return f"{kind}_{rest[:DISPLAY_CHARS]}"


def tokens_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens or hashes."""
    return secrets.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
