"""``tiler cc``, a compiler launcher (like ccache): ``make CC="tiler cc gcc"`` tiles every
``#pragma scop`` region of the C sources a build compiles, with no ``.tiled.c`` files.

Modules: ``command_line`` (what a compiler command does), ``options`` (``TILER_FLAGS``),
``cache`` (tiled sources by content), ``driver`` (preprocess, tile, compile).
"""

from tiler.launcher.driver import run_cc

__all__ = ["run_cc"]
