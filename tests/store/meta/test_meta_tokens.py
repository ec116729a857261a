"""Tests of trail.security.tokens: entropy, prefixes, hashing."""

from __future__ import annotations

import hashlib
import re

import pytest

from trail.security.tokens import display_prefix, hash_token, new_secret, tokens_equal


def test_new_secret_has_prefix_and_at_least_128_bits() -> None:
    key = new_secret("trl")
    assert key.startswith("trl_")
    assert len(key.removeprefix("trl_")) >= 32  # 24 random bytes in base64url
    assert re.fullmatch(r"trl_[A-Za-z0-9_-]{32}", new_secret("trl_"))
    assert len({new_secret("wall") for _ in range(200)}) == 200


@pytest.mark.parametrize("prefix", ["", "a-b", "_"])
def test_new_secret_rejects_bad_prefix(prefix: str) -> None:
    with pytest.raises(ValueError):
        new_secret(prefix)


def test_hash_token_is_sha256_hex() -> None:
    assert hash_token("trl_abc") == hashlib.sha256(b"trl_abc").hexdigest()
    assert hash_token(" trl_abc\n") == hash_token("trl_abc")


def test_display_prefix() -> None:
    key = new_secret("trl")
    assert display_prefix(key) == key[:10]
    assert display_prefix("abcdefghij") == "abcdef"
    assert tokens_equal(key, key) and not tokens_equal(key, key + "x")
