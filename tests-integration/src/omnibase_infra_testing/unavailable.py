"""What a test does when the real service it needs cannot be had: fail, saying what to install.

A missing server never lets a test pass silently. Only an explicit opt-out
(``OMNIBASE_INFRA_TEST_ALLOW_SKIP=1``, which CI never sets) turns the failure into a skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import NoReturn, Protocol

import pytest

from omnibase_infra_testing.process import ServiceStartError

OPT_OUT_ENV = "OMNIBASE_INFRA_TEST_ALLOW_SKIP"


def service_unavailable(service: str, reason: str, how_to_get_it: str) -> NoReturn:
    """Fail (or, behind the opt-out, skip) the requesting test with a clear message."""
    message = f"{service} is not available: {reason}\nTo get it: {how_to_get_it}"
    if os.environ.get(OPT_OUT_ENV) == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


class _Stoppable(Protocol):
    def stop(self) -> None: ...


def serve_for_session[S: _Stoppable](
    service: str,
    start: Callable[[], S],
    *,
    missing: tuple[type[Exception], ...],
    how_to_get_it: str,
    external_env: str | None = None,
) -> Iterator[S]:
    """The body of a session fixture: start the server, hand it out, stop it at the end.

    ``missing`` are the errors that mean the server (or its package) is not installed; a
    failed start of an external server (``external_env`` set) says how to fix that. Other
    start failures propagate with the server's log.
    """
    problem: tuple[str, str] | None = None
    try:
        running = start()
    except missing as exc:
        problem = (str(exc), how_to_get_it)
    except ServiceStartError as exc:
        if external_env is None or not os.environ.get(external_env, "").strip():
            raise
        problem = (str(exc), f"start that server, or unset {external_env}")
    if problem is not None:  # outside the except block: no chained traceback in the report
        service_unavailable(service, *problem)
    try:
        yield running
    finally:
        running.stop()
