"""``python -m omnibase_infra.nodes.infra_reducer.v1_0_0 validate|replay|render``."""

from omnibase_infra.nodes.infra_reducer.v1_0_0.cli import main

raise SystemExit(main())
