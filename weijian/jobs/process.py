"""``weijian worker`` as a child process of another command (the demo's server): started
with it, stopped with it."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator, Mapping
from typing import IO

#: the worker command run by this interpreter, whatever the ``weijian`` script is called
WORKER = [sys.executable, "-c", "from weijian.cli import app; app()", "worker"]


def start_worker(
    *options: str, env: Mapping[str, str] | None = None, output: IO | None = None
) -> subprocess.Popen:
    return subprocess.Popen(
        [*WORKER, *options],
        env=dict(env) if env is not None else None,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
    )


def stop_worker(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM: the worker finishes the job at hand and leaves; killed if it takes longer."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def worker_process(
    *options: str, env: Mapping[str, str] | None = None, output: IO | None = None
) -> Iterator[subprocess.Popen]:
    process = start_worker(*options, env=env, output=output)
    try:
        yield process
    finally:
        stop_worker(process)
