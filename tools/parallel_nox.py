"""Run nox's default sessions on several workers (one ``nox -s <session>`` process each).

Sessions are independent (each has its own venv, coverage file and servers on free
ports), so ``--jobs 2`` uses both cores of a CI machine. The longest sessions start first
(a rough weight per kind), every line of output is prefixed with its session, each
session's full output is also kept in ``.nox-logs/<session>.log``, and the summary at the
end lists every session with its result and time; the tail of each failed session's log
is printed again there. The exit status is 1 when any session failed.

Standard library only: it runs under the tool venv's Python before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / ".nox-logs"
# Rough relative durations: the scheduler starts the heaviest first.
WEIGHTS = {"integration": 20.0, "mypy_all": 6.0, "tests": 4.0, "core": 3.0, "mypy": 2.0}
TAIL_LINES = 60


@dataclass
class Outcome:
    session: str
    returncode: int
    seconds: float
    log: Path


def weight(session: str) -> float:
    return WEIGHTS.get(session.split("(", 1)[0], 1.0)


def default_sessions(nox: str) -> list[str]:
    listed = subprocess.run(  # noqa: S603 - argv built here
        [nox, "-l", "--json"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return [entry["session"] for entry in json.loads(listed.stdout)]


def _log_name(session: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", session).strip("_") + ".log"


def run_session(nox: str, session: str, lock: threading.Lock) -> Outcome:
    log = LOGS / _log_name(session)
    started = time.monotonic()
    with (
        log.open("w", encoding="utf-8") as sink,
        subprocess.Popen(  # noqa: S603 - argv built here
            [nox, "-s", session],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as process,
    ):
        for line in process.stdout or ():
            sink.write(line)
            with lock:
                sys.stdout.write(f"[{session}] {line}")
                sys.stdout.flush()
        returncode = process.wait()
    return Outcome(session, returncode, time.monotonic() - started, log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--nox", default="nox")
    args = parser.parse_args(argv)

    sessions = sorted(default_sessions(args.nox), key=weight, reverse=True)
    LOGS.mkdir(exist_ok=True)
    lock = threading.Lock()
    print(f"running {len(sessions)} nox sessions on {args.jobs} workers", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = list(pool.map(lambda s: run_session(args.nox, s, lock), sessions))

    failed = [o for o in outcomes if o.returncode != 0]
    for outcome in failed:
        tail = outcome.log.read_text(encoding="utf-8").splitlines()[-TAIL_LINES:]
        print(f"\n===== {outcome.session} failed; last lines of {outcome.log} =====")
        print("\n".join(tail))
    print("\n===== sessions =====")
    for outcome in sorted(outcomes, key=lambda o: o.session):
        status = "ok" if outcome.returncode == 0 else f"FAILED ({outcome.returncode})"
        print(f"{outcome.session:50} {status:12} {outcome.seconds:7.1f} s")
    print(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
