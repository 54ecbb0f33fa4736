"""The environment nox sessions hand to the tests: no ambient service configuration.

A developer's shell often points at real servers (``CONSUL_HTTP_ADDR``, ``VAULT_ADDR`` and
``VAULT_TOKEN``, OpenBao's ``BAO_*``, libpq's ``PGHOST``/``PGPASSWORD``/...). Client
libraries read those on their own (hvac falls back to ``VAULT_TOKEN``, asyncpg to ``PG*``,
the harness used ``CONSUL_HTTP_ADDR`` as an external agent), so a test could silently talk
to a server the developer never meant to test against, or pass only because of one. The
noxfile removes them before any session runs; the harness's own opt-ins
(``OMNIBASE_INFRA_TEST_*``, e.g. ``OMNIBASE_INFRA_TEST_POSTGRES_DSN``) stay.

Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping

# Consul's, Vault's and OpenBao's client variables, and libpq's (PGHOST, PGPORT, PGUSER,
# PGPASSWORD, PGPASSFILE, PGDATABASE, PGSSLMODE, PGSERVICE, ...).
AMBIENT_SERVICE_VARIABLE = re.compile(r"^(CONSUL_|VAULT_|BAO_)[A-Z0-9_]*$|^PG[A-Z0-9_]+$")


def ambient_service_variables(environ: Mapping[str, str]) -> list[str]:
    """The names (sorted) of the service-client variables set in ``environ``."""
    return sorted(name for name in environ if AMBIENT_SERVICE_VARIABLE.match(name))


def remove_ambient_service_variables(environ: MutableMapping[str, str]) -> list[str]:
    """Remove them from ``environ``; return the names removed (never their values)."""
    names = ambient_service_variables(environ)
    for name in names:
        del environ[name]
    return names
