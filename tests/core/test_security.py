"""Passwords, opaque tokens, identity HMACs and the login failure limiter."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from kefu.core.clock import FixedClock
from kefu.core.ratelimit import FailureLimiter
from kefu.core.security import (
    burn_password_check,
    check_identity_hmac,
    hash_password,
    identity_hmac,
    new_token,
    token_hash,
    verify_password,
)

T0 = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


def test_argon2_hash_and_verify():
    h = hash_password("correct-horse")
    assert h.startswith("$argon2id$")
    assert "correct-horse" not in h
    assert verify_password(h, "correct-horse")
    assert not verify_password(h, "correct-horsE")
    assert not verify_password(h, "")
    assert hash_password("correct-horse") != h  # salted


def test_verify_against_garbage_hash_is_false_not_an_error():
    assert not verify_password("not-a-hash", "x")
    assert not verify_password("", "x")
    burn_password_check("anything")  # never raises


def test_tokens_are_prefixed_random_and_stored_as_sha256():
    a, b = new_token("kefu_pat"), new_token("kefu_pat")
    assert a.startswith("kefu_pat_")
    assert a != b
    assert len(a) > 40
    assert token_hash(a) == hashlib.sha256(a.encode()).hexdigest()
    assert len(token_hash(a)) == 64
    assert token_hash(a) != token_hash(b)


def test_identity_hmac_check():
    secret, uid = "inbox-secret", "shop-user-1001"
    expected = hmac.new(secret.encode(), uid.encode(), hashlib.sha256).hexdigest()
    assert identity_hmac(secret, uid) == expected
    assert check_identity_hmac(secret, uid, expected)
    assert check_identity_hmac(secret, uid, f"  {expected.upper()}\n")
    assert not check_identity_hmac(secret, "shop-user-1002", expected)
    assert not check_identity_hmac("other-secret", uid, expected)
    assert not check_identity_hmac(secret, uid, expected[:-1])
    assert not check_identity_hmac(secret, uid, "")


def test_failure_limiter_blocks_after_max_failures_within_the_window():
    clock = FixedClock(T0)
    lim = FailureLimiter(max_failures=3, window_seconds=60)
    for _ in range(2):
        lim.fail("li|1.2.3.4", clock.now())
        clock.advance(seconds=10)
    assert lim.blocked_for("li|1.2.3.4", clock.now()) == 0
    lim.fail("li|1.2.3.4", clock.now())  # third failure at T0+20s
    # blocked until the first failure (T0) leaves the window: T0+60s
    assert lim.blocked_for("li|1.2.3.4", clock.now()) == pytest.approx(40)
    assert lim.blocked_for("chen|1.2.3.4", clock.now()) == 0  # keys are independent
    clock.advance(seconds=39)
    assert lim.blocked_for("li|1.2.3.4", clock.now()) == pytest.approx(1)
    clock.advance(seconds=1, microseconds=1)
    assert lim.blocked_for("li|1.2.3.4", clock.now()) == 0


def test_failure_limiter_reset_clears_the_key():
    lim = FailureLimiter(max_failures=1, window_seconds=60)
    lim.fail("k", T0)
    assert lim.blocked_for("k", T0) > 0
    lim.reset("k")
    assert lim.blocked_for("k", T0) == 0


def test_fixed_clock_refuses_naive_and_advances():
    with pytest.raises(ValueError, match="aware"):
        FixedClock(datetime(2026, 1, 1))  # noqa: DTZ001
    c = FixedClock(T0)
    assert c.now() == c.now() == T0
    c.advance(hours=1, minutes=30)
    assert c.now() - T0 == timedelta(hours=1, minutes=30)


def test_production_hasher_uses_strong_parameters(cheap_password_hashing):
    # the suite hashes with cheap parameters; what ships must stay at least OWASP's minimum
    prod = cheap_password_hashing
    assert prod.time_cost >= 2
    assert prod.memory_cost >= 19 * 1024
    assert prod.hash("x").startswith("$argon2id$")


def test_failure_limiter_forgets_keys_whose_failures_expired():
    """Keys come from untrusted input (e-mails); old ones must not pile up in memory."""
    clock = FixedClock(T0)
    lim = FailureLimiter(max_failures=5, window_seconds=60)
    for i in range(3 * FailureLimiter.SWEEP_MIN):
        lim.fail(f"attacker-{i}@x|1.2.3.4", clock.now())
    assert lim.tracked_keys() == 3 * FailureLimiter.SWEEP_MIN
    lim.blocked_for("never-failed|1.2.3.4", clock.now())
    assert lim.tracked_keys() == 3 * FailureLimiter.SWEEP_MIN  # checking adds nothing
    clock.advance(seconds=61)
    assert lim.blocked_for("attacker-0@x|1.2.3.4", clock.now()) == 0
    for i in range(2 * FailureLimiter.SWEEP_MIN):
        lim.fail(f"later-{i}@x|1.2.3.4", clock.now())
    assert lim.tracked_keys() <= 2 * FailureLimiter.SWEEP_MIN + 1
    assert lim.blocked_for("later-0@x|1.2.3.4", clock.now()) == 0  # 1 failure of 5
