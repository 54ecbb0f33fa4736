"""LifetimeManager on a virtual clock: renewal timing, jitter, backoff, re-login, expiry."""

from __future__ import annotations

import asyncio
import random

import pytest

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConnectionError, InfraPermissionError
from omnibase_infra.lifetime import EnumLeaseState, LeaseGrant, LifetimeManager


class VirtualTime:
    """A clock that sleep() advances; each sleep yields to the loop once."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def _transient() -> InfraConnectionError:
    return InfraConnectionError("down", transport=EnumTransport.VAULT, operation="renew")


def _permanent() -> InfraPermissionError:
    return InfraPermissionError("no", transport=EnumTransport.VAULT, operation="renew")


async def _until(predicate: object, steps: int = 200) -> None:
    for _ in range(steps):
        if callable(predicate) and predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


def test_delay_is_two_thirds_of_the_ttl_minus_jitter() -> None:
    async def never() -> LeaseGrant:
        raise AssertionError

    manager = LifetimeManager(
        never,
        rng=random.Random(7),  # noqa: S311 - jitter, not crypto
        jitter_fraction=0.1,
    )
    delays = [manager.renewal_delay(LeaseGrant(30.0, True)) for _ in range(200)]
    assert all(18.0 <= d <= 20.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # jitter actually varies
    exact = LifetimeManager(never, jitter_fraction=0.0)
    assert exact.renewal_delay(LeaseGrant(30.0, True)) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="renew_fraction"):
        LifetimeManager(never, renew_fraction=1.0)
    with pytest.raises(ValueError, match="jitter_fraction"):
        LifetimeManager(never, jitter_fraction=1.0)


async def test_renews_then_logs_in_when_the_max_ttl_caps_it() -> None:
    vt = VirtualTime()
    ttls = iter([30.0, 30.0, 5.0])  # the third renewal is capped by the max TTL
    granted: list[LeaseGrant] = []

    async def renew() -> LeaseGrant:
        return LeaseGrant(next(ttls), True)

    async def login() -> LeaseGrant:
        return LeaseGrant(30.0, True)

    manager = LifetimeManager(
        renew, login, jitter_fraction=0.0, clock=vt.clock, sleep=vt.sleep, on_granted=granted.append
    )
    manager.start(LeaseGrant(30.0, True))
    await _until(lambda: manager.logins == 1)
    await manager.stop()
    assert manager.renewals == 3
    assert vt.sleeps[:4] == pytest.approx([20.0, 20.0, 20.0, 5.0 * 2 / 3])
    assert [g.renewable for g in granted[:5]] == [True, True, True, False, True]
    assert manager.state is EnumLeaseState.STOPPED
    await manager.stop()  # idempotent


async def test_transient_renewal_errors_back_off_then_succeed() -> None:
    vt = VirtualTime()
    outcomes: list[BaseException | None] = [_transient(), _transient(), None]
    errors: list[BaseException] = []

    async def renew() -> LeaseGrant:
        outcome = outcomes.pop(0) if outcomes else None
        if outcome is not None:
            raise outcome
        return LeaseGrant(30.0, True)

    manager = LifetimeManager(
        renew,
        jitter_fraction=0.0,
        backoff_base_seconds=1.0,
        clock=vt.clock,
        sleep=vt.sleep,
        on_error=errors.append,
    )
    manager.start(LeaseGrant(30.0, True))
    await _until(lambda: manager.renewals == 1)
    assert manager.running
    await manager.stop()
    assert vt.sleeps[:3] == pytest.approx([20.0, 1.0, 2.0])
    assert len(errors) == 2
    assert manager.last_error is errors[-1]


async def test_permanent_renewal_error_logs_in_again() -> None:
    vt = VirtualTime()

    async def renew() -> LeaseGrant:
        raise _permanent()

    async def login() -> LeaseGrant:
        return LeaseGrant(10.0, False)

    manager = LifetimeManager(renew, login, jitter_fraction=0.0, clock=vt.clock, sleep=vt.sleep)
    manager.start(LeaseGrant(30.0, True))
    await _until(lambda: manager.logins == 2)  # a non-renewable grant goes straight to login
    await manager.stop()
    assert manager.renewals == 0
    assert isinstance(manager.last_error, InfraPermissionError)


async def test_expires_when_nothing_can_extend_it() -> None:
    vt = VirtualTime()

    async def renew() -> LeaseGrant:
        raise _transient()

    manager = LifetimeManager(
        renew, jitter_fraction=0.0, backoff_base_seconds=4.0, clock=vt.clock, sleep=vt.sleep
    )
    manager.start(LeaseGrant(30.0, True))
    with pytest.raises(RuntimeError, match="already started"):
        manager.start(LeaseGrant(30.0, True))
    await _until(lambda: manager.state is EnumLeaseState.EXPIRED)
    assert not manager.running
    # 20 s wait, then backoff 4 + 8 leaves less than the next 16 s before the expiry at 30 s.
    assert vt.sleeps == pytest.approx([20.0, 4.0])
    await manager.stop()
    assert manager.state is EnumLeaseState.EXPIRED
    assert manager.expires_at == pytest.approx(30.0)


async def test_a_failing_login_expires_the_lease() -> None:
    vt = VirtualTime()

    async def login() -> LeaseGrant:
        raise _permanent()

    manager = LifetimeManager(login, login, jitter_fraction=0.0, clock=vt.clock, sleep=vt.sleep)
    manager.start(LeaseGrant(9.0, False))
    await _until(lambda: manager.state is EnumLeaseState.EXPIRED)
    assert (manager.renewals, manager.logins) == (0, 0)
    assert vt.sleeps == pytest.approx([6.0])
