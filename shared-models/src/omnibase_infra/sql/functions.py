"""Built-in functions whose effects reach past the rows a read returns.

A read-only transaction does not stop them all: PostgreSQL refuses ``nextval`` or
``lo_create`` there, but lets ``set_config`` switch ``transaction_read_only`` off, sends
``pg_notify``, takes session advisory locks, signals other backends, reads server files and
runs remote SQL through ``dblink``. Statement analysis therefore gives a call to one of them
the access it really needs (:func:`function_access`); a read-only validation, which allows
only ``read``, refuses the call. The groups:

======================================  =========  =============================================
group                                   access     functions
======================================  =========  =============================================
signals other sessions or the server    admin      ``pg_cancel_backend``, ``pg_terminate_backend``,
                                                   ``pg_reload_conf``, ``pg_rotate_logfile``,
                                                   ``pg_promote``, WAL, backup, replication-slot
                                                   and replication-origin control, statistics
                                                   resets (``pg_stat_reset*``), index
                                                   maintenance (``brin_summarize_*``,
                                                   ``gin_clean_pending_list``), ...
reads or writes server files            admin      ``pg_read_file``, ``pg_read_binary_file``,
                                                   ``pg_stat_file``, ``pg_ls_*``, adminpack's
                                                   ``pg_file_*`` and ``pg_logdir_ls``,
                                                   ``lo_import``, ``lo_export``
changes a sequence                      write      ``nextval``, ``setval``
large objects                           write      every ``lo_*`` function, ``loread``,
                                                   ``lowrite``
changes a setting                       session    ``set_config``
session-level advisory lock             session    ``pg_advisory_lock[_shared]``,
                                                   ``pg_try_advisory_lock[_shared]``,
                                                   ``pg_advisory_unlock[_shared|_all]``
sends a notification                    session    ``pg_notify``
remote execution                        routine    every ``dblink*`` function,
                                                   ``postgres_fdw_disconnect[_all]``
runs SQL given as text                  routine    ``query_to_xml``, ``query_to_xmlschema``,
                                                   ``query_to_xml_and_xmlschema``, ``ts_stat``,
                                                   ``ts_rewrite`` (its two-argument form runs a
                                                   query; both forms are refused)
======================================  =========  =============================================

Matched by the called name, case-insensitively, with or without a schema
(``pg_catalog.set_config``) and quoted or not (``"set_config"``, ``U&"set\\005fconfig"``);
a user-defined function of one of these names is refused too. Deliberately left allowed:
the transaction-level advisory locks (``pg_advisory_xact_lock*``, ``pg_try_advisory_xact_lock*``:
released when the operation's transaction ends, they outlive nothing), ``txid_current`` and
``pg_current_xact_id`` (they assign a transaction id but change no data; the server allows
them in a read-only transaction), ``pg_sleep``, ``currval``, ``current_setting`` and the
other reads. Any other function, user-defined ones above all, is opaque here: only the
server's read-only transaction stops what it writes.
"""

from __future__ import annotations

from typing import Final

from omnibase_infra.sql.access import EnumSqlAccess

__all__ = ["RESTRICTED_FUNCTIONS", "RESTRICTED_FUNCTION_PREFIXES", "function_access"]

_A = EnumSqlAccess
_SERVER = (_A.ADMIN, "signals other sessions or the server")
_FILES = (_A.ADMIN, "reads or writes server files")
_SEQUENCE = (_A.WRITE, "changes a sequence")
_LARGE_OBJECT = (_A.WRITE, "large object")
_SETTING = (_A.SESSION, "changes a setting")
_ADVISORY = (_A.SESSION, "session-level advisory lock")
_NOTIFY = (_A.SESSION, "sends a notification")
_REMOTE = (_A.ROUTINE, "remote execution")
_SQL_TEXT = (_A.ROUTINE, "runs SQL given as text")

RESTRICTED_FUNCTIONS: Final[dict[str, tuple[EnumSqlAccess, str]]] = {
    **dict.fromkeys(
        (
            *("pg_cancel_backend", "pg_terminate_backend", "pg_reload_conf"),
            *("pg_rotate_logfile", "pg_logfile_rotate", "pg_promote"),
            *("pg_log_backend_memory_contexts", "pg_log_standby_snapshot"),
            *("pg_switch_wal", "pg_switch_xlog", "pg_create_restore_point"),
            *("pg_backup_start", "pg_backup_stop", "pg_start_backup", "pg_stop_backup"),
            *("pg_create_physical_replication_slot", "pg_create_logical_replication_slot"),
            *("pg_copy_physical_replication_slot", "pg_copy_logical_replication_slot"),
            *("pg_drop_replication_slot", "pg_replication_slot_advance"),
            "pg_sync_replication_slots",
            *("pg_import_system_collations", "pg_stat_statements_reset"),
            *("brin_summarize_new_values", "brin_summarize_range", "brin_desummarize_range"),
            *("gin_clean_pending_list", "pg_truncate_visibility_map"),
            *("pg_buffercache_evict", "pg_buffercache_evict_relation", "pg_buffercache_evict_all"),
        ),
        _SERVER,
    ),
    **dict.fromkeys(
        ("pg_read_file", "pg_read_binary_file", "pg_stat_file", "pg_logdir_ls"), _FILES
    ),
    "lo_import": _FILES,
    "lo_export": _FILES,
    "nextval": _SEQUENCE,
    "setval": _SEQUENCE,
    "loread": _LARGE_OBJECT,
    "lowrite": _LARGE_OBJECT,
    "set_config": _SETTING,
    **dict.fromkeys(
        (
            *("pg_advisory_lock", "pg_advisory_lock_shared"),
            *("pg_try_advisory_lock", "pg_try_advisory_lock_shared"),
            *("pg_advisory_unlock", "pg_advisory_unlock_shared", "pg_advisory_unlock_all"),
        ),
        _ADVISORY,
    ),
    "pg_notify": _NOTIFY,
    "postgres_fdw_disconnect": _REMOTE,
    "postgres_fdw_disconnect_all": _REMOTE,
    **dict.fromkeys(
        (
            *("query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema"),
            *("ts_stat", "ts_rewrite"),
        ),
        _SQL_TEXT,
    ),
}
"""Restricted functions by exact (lower-case) name: (access needed, why)."""

RESTRICTED_FUNCTION_PREFIXES: Final[tuple[tuple[str, tuple[EnumSqlAccess, str]], ...]] = (
    ("pg_stat_reset", _SERVER),
    ("pg_wal_replay_", _SERVER),
    ("pg_xlog_replay_", _SERVER),
    ("pg_logical_", _SERVER),
    ("pg_replication_origin_", _SERVER),
    ("pg_ls_", _FILES),
    ("pg_file_", _FILES),
    ("lo_", _LARGE_OBJECT),
    ("dblink", _REMOTE),
)
"""Families restricted by name prefix (every ``lo_*``, ``dblink*``, ``pg_ls_*``, ...)."""

_PREFIX_STARTS = tuple(prefix for prefix, _ in RESTRICTED_FUNCTION_PREFIXES)


def function_access(name: str) -> tuple[EnumSqlAccess, str] | None:
    """The access a call to the function ``name`` needs and why, when it is restricted;
    None for any other function. ``name`` is the bare name (no schema), any case."""
    lowered = name.lower()
    found = RESTRICTED_FUNCTIONS.get(lowered)
    if found is not None or not lowered.startswith(_PREFIX_STARTS):
        return found
    return next(need for prefix, need in RESTRICTED_FUNCTION_PREFIXES if lowered.startswith(prefix))
