"""Run a computation in a forked child process that is killed after a deadline.

Some isl computations (parts of the scheduler, AST generation on strided domains) are not
bounded by isl's operation budget and can take minutes on small inputs; the pass must not
hang on them. The child computes, encodes its result as bytes, writes them to a pipe and
exits; the parent reads until the deadline and kills the child past it. Where ``os.fork``
does not exist the computation runs in-process, without a deadline.
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass


class DeadlineExceeded(Exception):
    """The computation did not finish before its deadline (its child was killed)."""


def run_with_deadline(compute: Callable[[], bytes], seconds: float) -> bytes | None:
    """Return ``compute()`` computed in a child process, or raise ``DeadlineExceeded`` after
    ``seconds``; None when the child failed (an exception in ``compute``)."""
    result = collect([start(compute)], seconds)[0]
    if isinstance(result, DeadlineExceeded):
        raise result
    return result


@dataclass
class Started:
    """A computation started in a child process (``pid``, the pipe it writes to), or, where
    there is no ``os.fork``, done in-process (``done``)."""

    pid: int = 0
    reader: int = -1
    done: bytes | None = None


def start(compute: Callable[[], bytes]) -> Started:
    """Return ``compute`` started in a forked child (which sees the process as it is now:
    start several, changing a setting in between, and they run at once)."""
    if not hasattr(os, "fork"):
        try:
            return Started(done=compute())
        except Exception:  # noqa: BLE001 - the child's failure is reported the same way
            return Started()
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:                                   # the child computes, writes, exits
        status = 1
        try:
            os.close(reader)
            data = b"\1" + compute()
            while data:
                data = data[os.write(writer, data):]
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    return Started(child, reader)


def collect(children: list[Started], seconds: float) -> list[bytes | None | DeadlineExceeded]:
    """Return what each started child computed: its bytes, None when it failed, or a
    ``DeadlineExceeded`` when it was not done ``seconds`` from now (it is killed)."""
    chunks: dict[int, list[bytes]] = {k: [] for k, child in enumerate(children)
                                      if child.reader >= 0}
    results: list = [child.done for child in children]
    open_pipes = {children[k].reader: k for k in chunks}
    deadline = time.monotonic() + seconds
    try:
        while open_pipes:
            remaining = deadline - time.monotonic()
            ready = select.select(list(open_pipes), [], [], remaining)[0] \
                if remaining > 0 else []
            if not ready:
                for reader, k in open_pipes.items():
                    os.kill(children[k].pid, signal.SIGKILL)
                    results[k] = DeadlineExceeded(f"not done after {seconds:g} s")
                break
            for reader in ready:
                chunk = os.read(reader, 1 << 16)
                if chunk:
                    chunks[open_pipes[reader]].append(chunk)
                else:
                    k = open_pipes.pop(reader)
                    data = b"".join(chunks[k])
                    results[k] = data[1:] if data else None
    finally:
        for k in chunks:
            os.close(children[k].reader)
            os.waitpid(children[k].pid, 0)
    return results
