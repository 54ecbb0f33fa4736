"""One module per real service: a dataclass describing the running server and its fixture."""
