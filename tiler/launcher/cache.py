"""The content-addressed cache of tiled sources, under the user cache directory.

An entry is keyed by everything the tiled text depends on: the source's text and path, its
text after preprocessing with the compile's flags (which holds every included file), tiler's
options (the hierarchy among them) and tiler's version. Every lookup appends ``hit`` or
``miss`` to a statistics file, so a build can be checked to have done no tiling.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from tiler.hierarchy import cache_dir

# Bumped when an entry's layout changes, so old entries are not misread.
ENTRY_FORMAT = 1
HIT, MISS = "hit", "miss"


@dataclass(frozen=True)
class Remark:
    """A diagnostic about one region: ``kind`` is ``tiled`` (a remark with ``--report``) or
    ``untiled`` (a note, an error with ``--tiler-strict``)."""

    line: int
    column: int
    kind: str
    message: str


@dataclass(frozen=True)
class TiledSource:
    """What tiling one source gave: the text to compile (``None``: the source as it is)."""

    text: str | None
    remarks: tuple[Remark, ...]


@dataclass(frozen=True)
class CacheStatistics:
    """How many lookups found their entry and how many had to tile."""

    hits: int
    misses: int


def launcher_cache_dir() -> Path:
    """Return the directory of the launcher's cache (inside tiler's user cache directory)."""
    return cache_dir() / "cc"


def cache_key(*parts: str) -> str:
    """Return the hex SHA-256 of ``parts`` (each length-prefixed, so no two lists collide)."""
    digest = hashlib.sha256(f"tiler-cc-{ENTRY_FORMAT}".encode())
    for part in parts:
        data = part.encode("utf-8", errors="surrogateescape")
        digest.update(f"{len(data)}:".encode())
        digest.update(data)
    return digest.hexdigest()


def _entry_path(key: str) -> Path:
    return launcher_cache_dir() / "entries" / key[:2] / f"{key}.json"


def _count(event: str) -> None:
    directory = launcher_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    # One short write in append mode: concurrent compiles of a parallel make do not mix lines.
    with open(directory / "stats", "a", encoding="ascii") as stream:
        stream.write(event + "\n")


def lookup(key: str) -> TiledSource | None:
    """Return the entry stored under ``key`` (None if there is none), counting a hit or miss."""
    try:
        data = json.loads(_entry_path(key).read_text(encoding="utf-8",
                                                     errors="surrogateescape"))
        entry = TiledSource(data["text"], tuple(Remark(**remark) for remark in data["remarks"]))
    except (OSError, ValueError, KeyError, TypeError):
        _count(MISS)
        return None
    _count(HIT)
    return entry


def store(key: str, entry: TiledSource) -> None:
    """Store ``entry`` under ``key``, atomically (a concurrent reader sees all or nothing)."""
    from tiler.pipeline import write_atomically  # a store follows tiling: already loaded
    path = _entry_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"text": entry.text, "remarks": [remark.__dict__ for remark in entry.remarks]}
    write_atomically(path, json.dumps(data))


def statistics() -> CacheStatistics:
    """Return the hits and misses counted since the cache was last cleared."""
    try:
        events = (launcher_cache_dir() / "stats").read_text(encoding="ascii").split()
    except OSError:
        events = []
    return CacheStatistics(events.count(HIT), events.count(MISS))


def clear() -> int:
    """Remove every entry and the statistics; return how many entries there were. The probed
    hierarchy, cached beside, is kept."""
    directory = launcher_cache_dir()
    entries = sum(1 for _ in (directory / "entries").glob("*/*.json")) \
        if directory.exists() else 0
    shutil.rmtree(directory, ignore_errors=True)
    return entries

