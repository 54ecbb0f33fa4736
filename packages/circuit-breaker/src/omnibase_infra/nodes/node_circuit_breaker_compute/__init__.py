"""node_circuit_breaker_compute: the circuit-breaker engine of omnibase_infra as an ONEX node."""
