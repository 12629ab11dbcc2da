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


class DeadlineExceeded(Exception):
    """The computation did not finish before its deadline (its child was killed)."""


def run_with_deadline(compute: Callable[[], bytes], seconds: float) -> bytes | None:
    """Return ``compute()`` computed in a child process, or raise ``DeadlineExceeded`` after
    ``seconds``; None when the child failed (an exception in ``compute``)."""
    if not hasattr(os, "fork"):
        try:
            return compute()
        except Exception:  # noqa: BLE001 - the child's failure is reported the same way
            return None
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
    chunks: list[bytes] = []
    deadline = time.monotonic() + seconds
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([reader], [], [], remaining)[0]:
                os.kill(child, signal.SIGKILL)
                raise DeadlineExceeded(f"not done after {seconds:g} s")
            chunk = os.read(reader, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(reader)
        os.waitpid(child, 0)
    data = b"".join(chunks)
    return data[1:] if data else None
