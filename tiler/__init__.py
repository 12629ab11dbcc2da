"""tiler: polyhedral loop tiling with tile sizes from the measured cache hierarchy.

The API in short: ``tiler.tile_source(text, filename, tiler.TileOptions(...))`` returns the
tiled text and a report per region; ``tiler.tile_file(path)`` writes ``path.tiled.c``.
"""

from tiler.errors import TilerError

__all__ = ["TileOptions", "TileResult", "TilerError", "tile_file", "tile_source"]
_PIPELINE = {"TileOptions", "TileResult", "tile_file", "tile_source"}


def __getattr__(name: str):
    # The pipeline imports islpy; loading it only when asked keeps `tiler --help` quick.
    if name in _PIPELINE:
        from tiler import pipeline
        return getattr(pipeline, name)
    if name == "__version__":
        from tiler.version import package_version
        return package_version()
    raise AttributeError(f"module 'tiler' has no attribute {name!r}")
