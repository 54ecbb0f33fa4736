"""Start a server as a child process on 127.0.0.1 and stop it by PID, whatever happens.

Every real service of the harness goes through :class:`ManagedProcess`: it runs the
server in its own process group, waits until a readiness probe passes (or the process
dies, or a deadline expires, each with the server's log in the error), and on stop sends
SIGTERM to the group, then SIGKILL after a grace period. An ``atexit`` hook stops
anything still running when the interpreter exits, so a failing or interrupted test
session leaves no server behind. A SIGTERM to the test process (a CI timeout, ``kill``)
would skip ``atexit``, so it is turned into ``KeyboardInterrupt`` (pytest then tears down
as on Ctrl-C); a second SIGTERM stops the servers at once and terminates.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

LOOPBACK = "127.0.0.1"
KEEP_LOGS_ENV = "OMNIBASE_INFRA_TEST_KEEP_LOGS"

_RUNNING: set[ManagedProcess] = set()
_SIGTERM_RECEIVED = threading.Event()


class ServiceStartError(RuntimeError):
    """A real service could not be started; the message says what to install or fix."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(port: int, host: str = LOOPBACK) -> bool:
    """True when something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


class ManagedProcess:
    """A server process owned by the harness: started, probed for readiness, stopped by PID."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.log_path = Path(tempfile.mkstemp(prefix=f"omnibase-infra-{name}-", suffix=".log")[1])
        self._proc: subprocess.Popen[bytes] | None = None
        self._was_ready = False

    @property
    def pid(self) -> int:
        if self._proc is None:
            msg = f"{self.name} is not running"
            raise ServiceStartError(msg)
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, limit: int = 4000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-limit:]

    def start(self, ready: Callable[[], bool], *, timeout: float = 60.0) -> ManagedProcess:
        """Start the process and block until ``ready()`` is true."""
        install_sigterm_handler()
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(  # noqa: S603 - argv is built by the harness
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # own process group: stop() reaches its children too
            )
        _RUNNING.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self.stop()
                msg = (
                    f"{self.name} exited with code {code} before it was ready.\n"
                    f"command: {' '.join(self.argv)}\nlog ({self.log_path}):\n{self.log_tail()}"
                )
                raise ServiceStartError(msg)
            with contextlib.suppress(Exception):
                if ready():
                    self._was_ready = True
                    return self
            time.sleep(0.1)
        self.stop()
        msg = (
            f"{self.name} was not ready within {timeout:.0f} s.\n"
            f"command: {' '.join(self.argv)}\nlog ({self.log_path}):\n{self.log_tail()}"
        )
        raise ServiceStartError(msg)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL it after ``grace`` seconds.

        The log of a server that started cleanly is removed afterwards unless
        ``OMNIBASE_INFRA_TEST_KEEP_LOGS=1``; a failed start keeps it (its path is in the error).
        """
        proc = self._proc
        _RUNNING.discard(self)
        try:
            self._terminate(proc, grace)
        finally:
            if self._was_ready and os.environ.get(KEEP_LOGS_ENV) != "1":
                self.log_path.unlink(missing_ok=True)

    @staticmethod
    def _terminate(proc: subprocess.Popen[bytes] | None, grace: float) -> None:
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)


@atexit.register
def _stop_all() -> None:
    for managed in list(_RUNNING):
        managed.stop(grace=5.0)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if not _SIGTERM_RECEIVED.is_set():
        _SIGTERM_RECEIVED.set()
        raise KeyboardInterrupt(f"signal {signum}: stopping the test servers")
    _stop_all()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def install_sigterm_handler() -> None:
    """Turn SIGTERM into ``KeyboardInterrupt`` (see the module docstring); idempotent.

    Without it, SIGTERM ends the interpreter without ``atexit``: servers would outlive it.
    ``ManagedProcess.start`` calls it; call it earlier when setup leaves things behind too.
    """
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set signal handlers
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # never replace someone's handler
        signal.signal(signal.SIGTERM, _on_sigterm)
