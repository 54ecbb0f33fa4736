"""Credentials for command lines: never taken from an option that other users can read.

A command line is visible to every user of the machine (``ps``, ``/proc/<pid>/cmdline``),
so a CLI takes a credential-bearing setting (a DSN or URL with a password) from an
environment variable or standard input, and refuses it as an option.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import NoReturn, TextIO

from omnibase_infra.redaction.redact import carries_secret

__all__ = ["credential_from_command_line"]


def credential_from_command_line(
    error: Callable[[str], NoReturn],
    *,
    what: str,
    option: str,
    value: str | None,
    from_stdin: bool,
    env: str,
    environ: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
) -> str:
    """The setting ``what`` (e.g. ``"DSN"``) from the first line of standard input when
    ``from_stdin`` (the ``{option}-stdin`` flag), from ``option``'s ``value`` when it holds
    no password or token (:func:`carries_secret`), else from the variable ``env``.

    ``error`` (``parser.error``: exit status 2) is called when the value is given twice,
    when the option holds a secret (the message says where to put it and never repeats the
    value) or when there is no value at all."""
    if from_stdin:
        if value:
            error(f"give {option} or {option}-stdin, not both")
        text = (stdin if stdin is not None else sys.stdin).readline()
    elif value:
        if carries_secret(value):
            error(
                f"{option} holds a password or token, and a command line is visible to other "
                f"users: set {env}, or pass {option}-stdin and write the {what} to standard "
                "input"
            )
        text = value
    else:
        text = (os.environ if environ is None else environ).get(env, "")
    if not text.strip():
        error(f"no {what}: set {env}, pass {option}-stdin, or {option} without a password")
    return text.strip()
