"""Nested fixture package: contracts addressed as ``contracts/<file>.yaml``."""
