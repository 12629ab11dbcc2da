"""Peak resident memory of a process, measured from the process tree by ``getrusage``.

``peak_rss_bytes(command)`` runs ``command`` under a small Python parent that waits for it and
reports ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` (the peak resident set of its one child; on
Linux in KiB). Shared file pages that the child touches, such as a memory-mapped checkpoint's,
count in it, so nothing is hidden by the mapping.

``python -m tiler.qmoe.memory dense LAYER.safetensors X.npy Y.npy`` is the dense fp32 run the
compressed one is compared with: the layer's weights read into memory as float32, the same
routing, the experts by numpy.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

from tiler.errors import TilerError

# ru_maxrss is in KiB on Linux (bytes on macOS, where this is not run).
_RSS_UNIT = 1024
_PARENT = ("import resource, subprocess, sys\n"
           "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
           "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def peak_rss_bytes(command: Sequence[str]) -> int:
    """Return the peak resident memory in bytes of ``command`` run as a process; raise
    ``TilerError`` if it fails."""
    done = subprocess.run([sys.executable, "-c", _PARENT, *command], capture_output=True,
                          text=True, check=False)
    try:
        code, peak = (int(word) for word in done.stdout.split())
    except ValueError:
        raise TilerError(f"could not measure {' '.join(command)}: {done.stderr.strip()}") \
            from None
    if code != 0:
        raise TilerError(f"{' '.join(command)} failed with exit code {code}: "
                         f"{done.stderr.strip()}")
    return peak * _RSS_UNIT


def _dense_run(layer_path: str, tokens_path: str, output_path: str) -> int:
    from pathlib import Path

    from tiler.qmoe.checkpoint import read_dense_layer
    from tiler.qmoe.cli import load_tokens, save_array
    layer = read_dense_layer(layer_path)
    tokens = load_tokens(Path(tokens_path), layer.config.model_width)
    save_array(Path(output_path), layer.forward(tokens))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "dense":
        print("usage: python -m tiler.qmoe.memory dense LAYER.safetensors X.npy Y.npy",
              file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(_dense_run(*sys.argv[2:]))
    except TilerError as error:
        print(error, file=sys.stderr)
        sys.exit(1)
