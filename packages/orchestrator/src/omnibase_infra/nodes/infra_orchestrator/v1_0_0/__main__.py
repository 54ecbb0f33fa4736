"""``python -m omnibase_infra.nodes.infra_orchestrator.v1_0_0`` = ``onex-infra``."""

from omnibase_infra.nodes.infra_orchestrator.v1_0_0.cli import main

raise SystemExit(main())
