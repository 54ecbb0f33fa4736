"""infra_orchestrator: declarative infrastructure workflows and the runtime that runs them
(versions below)."""
