"""What a test does when the real service it needs cannot be had: fail, saying what to install.

A missing server never lets a test pass silently. Only an explicit opt-out
(``OMNIBASE_INFRA_TEST_ALLOW_SKIP=1``, which CI never sets) turns the failure into a skip.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

OPT_OUT_ENV = "OMNIBASE_INFRA_TEST_ALLOW_SKIP"


def service_unavailable(service: str, reason: str, how_to_get_it: str) -> NoReturn:
    """Fail (or, behind the opt-out, skip) the requesting test with a clear message."""
    message = f"{service} is not available: {reason}\nTo get it: {how_to_get_it}"
    if os.environ.get(OPT_OUT_ENV) == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)
