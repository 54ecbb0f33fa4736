"""Run one PostgreSQL operation from the command line; the response is printed as JSON.

    python -m omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0 fetch \\
        "SELECT id, name FROM users WHERE id = $1" 42

The DSN comes from ``OMNIBASE_INFRA_POSTGRES_DSN``, from the first line of standard input
(``--dsn-stdin``), or from ``--dsn`` when it holds no password or token: a command line is
visible to other users of the machine, so ``--dsn`` with one is refused. Parameters are JSON values
(``42``, ``"42"``, ``null``, ``[1, 2]``); text that is not JSON is taken as a string. Arguments
written ``@path`` are read from that file (``@-``: standard input). Exit status: 0 success,
1 the operation failed (the error, redacted, as JSON on standard output), 2 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from pydantic import BaseModel, SecretStr, ValidationError

from omnibase_infra.errors import InfraError, error_to_safe_dict
from omnibase_infra.models.postgres import (
    ModelPostgresPoolConfig,
    PostgresRequest,
    parse_postgres_request,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.effect import (
    DSN_ENV,
    NodePostgresAdapterEffect,
)
from omnibase_infra.redaction import credential_from_command_line

__all__ = ["build_parser", "main", "request_from_args"]

PROG = "python -m omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0"


def _text(value: str) -> str:
    if not value.startswith("@"):
        return value
    if value == "@-":
        return sys.stdin.read()
    with open(value[1:], encoding="utf-8") as handle:
        return handle.read()


def _json(value: str) -> Any:
    try:
        return json.loads(_text(value))
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg})") from None


def _param(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def build_parser() -> argparse.ArgumentParser:
    """The command line: global options, then one sub-command per operation."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dsn",
        help=f"postgresql:// URI without a password (default: ${DSN_ENV}; with a password: "
        "the variable or --dsn-stdin)",
    )
    parser.add_argument(
        "--dsn-stdin", action="store_true", help="read the DSN from the first line of stdin"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds, retries included")
    parser.add_argument("--indent", type=int, default=None, help="pretty-print the JSON")
    sub = parser.add_subparsers(dest="command", required=True, metavar="operation")

    def statement(name: str, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("sql", type=_text, help="one SQL statement with $1, $2, ...")
        cmd.add_argument("params", nargs="*", type=_param, help="values for $1, $2, ...")
        return cmd

    for name, help_text in (
        ("fetch", "rows as JSON objects"),
        ("fetch-one", "the first row"),
        ("fetch-value", "one value of the first row"),
    ):
        cmd = statement(name, help_text)
        cmd.add_argument("--write", action="store_true", help="allow INSERT ... RETURNING etc.")
        if name == "fetch":
            cmd.add_argument("--max-rows", type=int, default=None)
        if name == "fetch-value":
            cmd.add_argument("--column", type=_param, default=0, help="index or name")
    statement("execute", "one statement: its status and row count").add_argument(
        "--idempotent", action="store_true", help="safe to retry after a lost connection"
    )
    many = sub.add_parser("execute-many", help="one statement per argument row, atomically")
    many.add_argument("sql", type=_text)
    many.add_argument("--args", type=_json, required=True, help="JSON array of arrays")
    copy = sub.add_parser("copy-records", help="bulk insert through COPY")
    copy.add_argument("table")
    copy.add_argument("--records", type=_json, required=True, help="JSON array of arrays")
    copy.add_argument("--columns", type=lambda v: tuple(v.split(",")), default=None)
    copy.add_argument("--schema", default=None)
    tx = sub.add_parser("transaction", help="statements in one transaction")
    tx.add_argument("--statements", type=_json, required=True, help='[{"sql": ..., "params": []}]')
    tx.add_argument(
        "--isolation",
        choices=["read_committed", "repeatable_read", "serializable"],
        default="read_committed",
    )
    tx.add_argument("--read-only", action="store_true")
    migrate = sub.add_parser("migrate", help="apply versioned .sql migrations")
    where = migrate.add_mutually_exclusive_group(required=True)
    where.add_argument("--directory")
    where.add_argument("--package", help="a package holding a migrations folder")
    migrate.add_argument("--resource", default="migrations", help="folder inside --package")
    migrate.add_argument("--table", default=None)
    migrate.add_argument("--schema", default=None)
    migrate.add_argument("--target-version", type=int, default=None)
    migrate.add_argument("--dry-run", action="store_true")
    sub.add_parser("health", help="server version, latency and pool statistics")
    raw = sub.add_parser("request", help="a whole request as JSON (see the models)")
    raw.add_argument("json", type=_json)
    return parser


def _set(data: dict[str, Any], **values: Any) -> dict[str, Any]:
    data.update({key: value for key, value in values.items() if value is not None})
    return data


def request_from_args(args: argparse.Namespace) -> PostgresRequest:
    """The typed request the parsed command line describes."""
    command: str = args.command
    data: dict[str, Any] = {"timeout_seconds": args.timeout}
    if command == "request":
        if not isinstance(args.json, dict):
            raise ValueError("the request must be a JSON object")
        return parse_postgres_request({**data, **args.json})
    data["operation"] = command.replace("-", "_")
    if command in ("fetch", "fetch-one", "fetch-value", "execute"):
        _set(data, sql=args.sql, params=args.params)
    if command in ("fetch", "fetch-one", "fetch-value"):
        data["read_only"] = not args.write
    if command == "fetch":
        _set(data, max_rows=args.max_rows)
    elif command == "fetch-value":
        data["column"] = args.column
    elif command == "execute":
        data["idempotent"] = args.idempotent
    elif command == "execute-many":
        _set(data, sql=args.sql, args=args.args)
    elif command == "copy-records":
        _set(data, table=args.table, records=args.records, columns=args.columns)
        _set(data, schema_name=args.schema)
    elif command == "transaction":
        _set(data, statements=args.statements, isolation=args.isolation, read_only=args.read_only)
    elif command == "migrate":
        source = {"directory": args.directory, "package": args.package, "resource": args.resource}
        _set(data, source={k: v for k, v in source.items() if v is not None})
        _set(data, table=args.table, schema_name=args.schema, target_version=args.target_version)
        data["dry_run"] = args.dry_run
    return parse_postgres_request(data)


def _dump(payload: BaseModel | dict[str, Any], indent: int | None, out: TextIO) -> None:
    if isinstance(payload, BaseModel):
        text = payload.model_dump_json(indent=indent, fallback=str)
    else:
        text = json.dumps(payload, indent=indent, default=str)
    out.write(text + "\n")


def _dsn(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str]) -> str:
    """The DSN from ``--dsn-stdin``, ``--dsn`` (refused with a secret in it) or the
    environment (:func:`credential_from_command_line`); usage errors exit 2."""
    if args.dsn_stdin and any(arg == "@-" or arg.endswith("=@-") for arg in argv):
        parser.error("standard input holds the DSN (--dsn-stdin): give @FILE, not @-")
    return credential_from_command_line(
        parser.error,
        what="DSN",
        option="--dsn",
        value=args.dsn,
        from_stdin=args.dsn_stdin,
        env=DSN_ENV,
    )


async def _run(config: ModelPostgresPoolConfig, request: PostgresRequest) -> BaseModel:
    async with NodePostgresAdapterEffect(config=config) as node:
        response: BaseModel = await node.process(request)
        return response


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Parse ``argv``, run the operation, print JSON; the exit status."""
    out = out if out is not None else sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    dsn = _dsn(parser, args, sys.argv[1:] if argv is None else argv)
    try:
        config = ModelPostgresPoolConfig(dsn=SecretStr(dsn), min_size=1, max_size=2)
        request = request_from_args(args)
    except (ValidationError, ValueError) as exc:
        errors = (
            exc.errors(include_input=False, include_url=False)
            if isinstance(exc, ValidationError)
            else [{"loc": (), "msg": str(exc)}]
        )
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or 'request'}: {err['msg']}" for err in errors
        ]
        _dump({"error": {"error_type": "usage", "problems": problems}}, args.indent, out)
        return 2
    try:
        response = asyncio.run(_run(config, request))
    except InfraError as exc:
        _dump({"error": error_to_safe_dict(exc)}, args.indent, out)
        return 1
    _dump(response, args.indent, out)
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess test
    raise SystemExit(main())
