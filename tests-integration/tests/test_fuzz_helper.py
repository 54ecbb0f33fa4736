"""The fuzz-target decorator: a short run by default, a time-bounded loop under the budget."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnibase_infra_testing import fuzz


def test_short_run_executes_the_given_number_of_examples(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(fuzz.FUZZ_SECONDS_ENV, raising=False)
    seen: list[int] = []

    @fuzz.fuzz_target(examples=25)
    @given(st.integers())
    def target(value: int) -> None:
        seen.append(value)

    target()
    assert 1 <= len(seen) <= 25  # hypothesis may stop early once the space is exhausted
    assert [m.name for m in getattr(target, "pytestmark", [])] == ["fuzz"]


def test_budget_runs_repeated_hypothesis_runs_until_it_is_spent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(fuzz.FUZZ_SECONDS_ENV, "0.3")
    calls = 0

    @fuzz.fuzz_target(examples=5)
    @given(st.binary())
    def target(data: bytes) -> None:
        nonlocal calls
        calls += 1

    started = time.monotonic()
    target()
    assert time.monotonic() - started >= 0.3
    assert calls > 50  # several runs of 50 cases, not one


def test_a_failure_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fuzz.FUZZ_SECONDS_ENV, raising=False)

    @fuzz.fuzz_target(examples=50)
    @given(st.integers(min_value=0, max_value=1000))
    def target(value: int) -> None:
        assert value < 500

    with pytest.raises(AssertionError):
        target()


def test_misuse_and_bad_budget_are_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match="above @given"):
        fuzz.fuzz_target()(lambda: None)
    with pytest.raises(ValueError, match="at least 1"):
        fuzz.fuzz_target(examples=0)
    monkeypatch.setenv(fuzz.FUZZ_SECONDS_ENV, "soon")
    with pytest.raises(ValueError, match="number of seconds"):
        fuzz.fuzz_seconds()
