"""Resilience helpers shared by every node: the retry/backoff policy and its runner."""

from omnibase_infra.resilience.model_retry_policy import ModelRetryPolicy
from omnibase_infra.resilience.retry import (
    Classifier,
    OnRetry,
    is_transient,
    run_with_retry,
    run_with_retry_sync,
)

__all__ = [
    "Classifier",
    "ModelRetryPolicy",
    "OnRetry",
    "is_transient",
    "run_with_retry",
    "run_with_retry_sync",
]
