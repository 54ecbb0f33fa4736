"""Fuzz targets as hypothesis tests: a short run in the default tests, a long one under
``nox -s fuzz``.

Decorate a synchronous ``@given`` test with :func:`fuzz_target` (above ``@given``)::

    @fuzz_target(examples=300)
    @given(st.text())
    def test_lexer_never_crashes(text: str) -> None: ...

In the default tests it runs ``examples`` generated cases (no deadline, no example
database, so a run is reproducible from its seed). With ``OMNIBASE_INFRA_FUZZ_SECONDS=N``
(the ``fuzz`` session sets it) it runs fresh hypothesis runs of ``examples * 10`` cases
back to back until ``N`` seconds have passed, so each target is bounded in time. Every
target carries the ``fuzz`` marker: ``pytest -m fuzz`` selects exactly the targets.

hypothesis is imported here; a package using this module lists ``hypothesis`` in its
``test`` dependency group.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

__all__ = ["FUZZ_SECONDS_ENV", "fuzz_seconds", "fuzz_target"]

FUZZ_SECONDS_ENV = "OMNIBASE_INFRA_FUZZ_SECONDS"
_LONG_RUN_FACTOR = 10


def fuzz_seconds() -> float:
    """The time budget per target from ``OMNIBASE_INFRA_FUZZ_SECONDS`` (0: a short run)."""
    raw = os.environ.get(FUZZ_SECONDS_ENV, "").strip()
    if not raw:
        return 0.0
    try:
        seconds = float(raw)
    except ValueError:
        msg = f"{FUZZ_SECONDS_ENV} must be a number of seconds, got {raw!r}"
        raise ValueError(msg) from None
    return max(seconds, 0.0)


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def fuzz_target[**P](*, examples: int = 300) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Mark a ``@given`` test as a fuzz target (see the module docstring)."""
    if examples < 1:
        msg = "examples must be at least 1"
        raise ValueError(msg)

    def decorate(test: Callable[P, None]) -> Callable[P, None]:
        if not hasattr(test, "hypothesis"):
            msg = f"{getattr(test, '__name__', test)!r}: put @fuzz_target above @given"
            raise TypeError(msg)
        seconds = fuzz_seconds()
        if seconds <= 0:
            short: Callable[P, None] = _settings(examples)(test)
            return pytest.mark.fuzz(short)
        batch: Callable[P, None] = _settings(examples * _LONG_RUN_FACTOR)(test)

        @functools.wraps(test)
        def run_until_budget(*args: P.args, **kwargs: P.kwargs) -> None:
            ends = time.monotonic() + seconds
            while True:  # each call is a fresh hypothesis run with a new random seed
                batch(*args, **kwargs)
                if time.monotonic() >= ends:
                    return

        marked: Any = pytest.mark.fuzz(run_until_budget)
        return marked  # type: ignore[no-any-return]

    return decorate
