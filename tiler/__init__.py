"""tiler: polyhedral loop tiling with tile sizes from the measured cache hierarchy."""

from tiler.errors import TilerError

__all__ = ["TilerError"]
__version__ = "0.1.0"
