"""Real-service test harness for omnibase_infra (private, never published)."""
