"""infra_reducer: the declarative infrastructure-state FSM node (versions below)."""
