"""The cache hierarchy the tile sizes are chosen for: its model, JSON form and per-user cache.

A ``Hierarchy`` comes from one of three places: the latency probe (``tiler probe``, cached under
the user cache directory), ``--cache-sizes 48K,2M,32M``, or ``--hierarchy H.json`` (the JSON that
``tiler probe --json`` prints). The nominal sizes the kernel reports in sysfs are kept beside the
measured ones for comparison only: on a shared or virtual machine the measured figure is the one a
process really gets, so it is the one the tiler uses.
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tiler.errors import TilerError

# Cache lines are 64 bytes on every x86-64 and most AArch64 parts; used when nothing says otherwise.
DEFAULT_LINE_BYTES = 64

# Bumped when the JSON shape changes, so an old cache file is re-probed rather than misread.
FORMAT_VERSION = 1

SYSFS_CACHE_DIR = Path("/sys/devices/system/cpu/cpu0/cache")

_SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$", re.IGNORECASE)
_SUFFIX_BYTES = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


@dataclass(frozen=True)
class CacheLevel:
    """One level of data cache: the working set it holds and its load-to-use latency.

    The optional fields come from the probe: the interval the level's size could lie in given
    the noise of the measurement (``size_low_bytes`` .. ``size_high_bytes``), the confidence
    that a repeat would find the level within 15% of ``size_bytes``, and the bandwidth of a
    streaming read of a working set inside the level.
    """

    level: int
    size_bytes: int
    latency_ns: float | None
    size_low_bytes: int | None = None
    size_high_bytes: int | None = None
    confidence: float | None = None
    bandwidth_bytes_per_ns: float | None = None

    def to_dict(self) -> dict:
        """Return the JSON object of this level (optional fields only when known)."""
        data = {"level": self.level, "size_bytes": self.size_bytes, "latency_ns": self.latency_ns}
        for key in _OPTIONAL_LEVEL_KEYS:
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data

    @staticmethod
    def from_dict(entry: object) -> CacheLevel:
        """Return the level a JSON object describes; raise ``TilerError`` naming what is wrong."""
        if not isinstance(entry, dict):
            raise TilerError(f"a cache level must be an object, not {entry!r}")
        level, size, latency = entry.get("level"), entry.get("size_bytes"), entry.get("latency_ns")
        if not _is_int(level) or level < 1:
            raise TilerError(f"cache level number must be a positive integer, not {level!r}")
        if not _is_int(size) or size <= 0:
            raise TilerError(f"size_bytes of L{level} must be a positive integer, not {size!r}")
        if latency is not None and (not _is_number(latency) or latency <= 0):
            raise TilerError(f"latency_ns of L{level} must be a positive number, not {latency!r}")
        low, high = entry.get("size_low_bytes"), entry.get("size_high_bytes")
        for key, value in (("size_low_bytes", low), ("size_high_bytes", high)):
            if value is not None and (not _is_int(value) or value <= 0):
                raise TilerError(f"{key} of L{level} must be a positive integer, not {value!r}")
        if low is not None and high is not None and not low <= size <= high:
            raise TilerError(f"the interval of L{level} ({low}..{high} bytes) must hold its "
                             f"size ({size} bytes)")
        confidence = entry.get("confidence")
        if confidence is not None and (not _is_number(confidence) or not 0 <= confidence <= 1):
            raise TilerError(f"confidence of L{level} must be between 0 and 1, not {confidence!r}")
        bandwidth = entry.get("bandwidth_bytes_per_ns")
        if bandwidth is not None and (not _is_number(bandwidth) or bandwidth <= 0):
            raise TilerError(f"bandwidth_bytes_per_ns of L{level} must be a positive number, "
                             f"not {bandwidth!r}")
        return CacheLevel(level, size, None if latency is None else float(latency), low, high,
                          None if confidence is None else float(confidence),
                          None if bandwidth is None else float(bandwidth))


_OPTIONAL_LEVEL_KEYS = ("size_low_bytes", "size_high_bytes", "confidence",
                        "bandwidth_bytes_per_ns")


@dataclass(frozen=True)
class Hierarchy:
    """The data caches from the innermost outwards, each strictly larger than the one before.

    Attributes:
        line_bytes: the cache line size.
        levels: L1, L2, … in order, numbered from 1.
        memory_latency_ns: latency of a load that misses every level (``None`` if not measured).
        source: where the sizes come from: ``probe``, ``cache-sizes``, ``sysfs`` or ``file``.
        cpu: the processor the sizes were measured on (empty when not known).
        measured_at: ISO 8601 time of the measurement (empty when not measured).
        huge_pages: whether the probe's buffer was backed by huge pages (``None``: not probed).
        nominal_levels: the sizes sysfs reports, beside the measured ones, for comparison.
        memory_bandwidth_bytes_per_ns: bandwidth of a streaming read from memory (``None``:
            not measured).
        confidence: the probe's confidence in the whole result, the least of its levels'.
    """

    line_bytes: int
    levels: tuple[CacheLevel, ...]
    memory_latency_ns: float | None = None
    source: str = "probe"
    cpu: str = ""
    measured_at: str = ""
    huge_pages: bool | None = None
    nominal_levels: tuple[CacheLevel, ...] = field(default=())
    memory_bandwidth_bytes_per_ns: float | None = None
    confidence: float | None = None

    def level_bandwidth(self, number: int) -> float | None:
        """Return the streaming bandwidth (bytes/ns) measured inside level ``number``, if any."""
        for level in self.levels:
            if level.level == number:
                return level.bandwidth_bytes_per_ns
        return None

    def bandwidth_for(self, working_set_bytes: float) -> float | None:
        """Return the streaming bandwidth (bytes/ns) of a working set of this size: that of the
        smallest level holding it, or memory's past the last (``None`` where not measured)."""
        for level in self.levels:
            if working_set_bytes <= level.size_bytes:
                return level.bandwidth_bytes_per_ns
        return self.memory_bandwidth_bytes_per_ns

    def __post_init__(self) -> None:
        if not _is_int(self.line_bytes) or self.line_bytes <= 0:
            raise TilerError(f"line_bytes must be a positive integer, not {self.line_bytes!r}")
        for levels in (self.levels, self.nominal_levels):
            for number, level in enumerate(levels, start=1):
                if level.level != number:
                    raise TilerError(f"cache levels must be numbered 1, 2, … in order; "
                                     f"found L{level.level} in place {number}")
            for inner, outer in itertools.pairwise(levels):
                if outer.size_bytes <= inner.size_bytes:
                    raise TilerError(f"cache sizes must increase strictly outwards: "
                                     f"L{outer.level} ({outer.size_bytes} bytes) is not larger "
                                     f"than L{inner.level} ({inner.size_bytes} bytes)")

    def to_dict(self) -> dict:
        """Return the JSON object of this hierarchy (the shape of DESIGN.md, plus extras)."""
        data = {
            "line_bytes": self.line_bytes,
            "levels": [level.to_dict() for level in self.levels],
            "memory_latency_ns": self.memory_latency_ns,
            "source": self.source,
            "cpu": self.cpu,
            "measured_at": self.measured_at,
            "format": FORMAT_VERSION,
        }
        if self.huge_pages is not None:
            data["huge_pages"] = self.huge_pages
        if self.nominal_levels:
            data["nominal_levels"] = [level.to_dict() for level in self.nominal_levels]
        if self.memory_bandwidth_bytes_per_ns is not None:
            data["memory_bandwidth_bytes_per_ns"] = self.memory_bandwidth_bytes_per_ns
        if self.confidence is not None:
            data["confidence"] = self.confidence
        return data

    def to_json(self) -> str:
        """Return the JSON text of this hierarchy."""
        return json.dumps(self.to_dict(), indent=2)

    @staticmethod
    def from_dict(data: object) -> Hierarchy:
        """Return the hierarchy a JSON object describes; raise ``TilerError`` if it is not one."""
        if not isinstance(data, dict):
            raise TilerError("a hierarchy must be a JSON object")
        for key in ("line_bytes", "levels"):
            if key not in data:
                raise TilerError(f"a hierarchy needs the key {key!r}")
        for key in ("levels", "nominal_levels"):
            if not isinstance(data.get(key, []), list):
                raise TilerError(f"{key!r} must be a list of cache levels")
        memory = data.get("memory_latency_ns")
        if memory is not None and (not _is_number(memory) or memory <= 0):
            raise TilerError(f"memory_latency_ns must be a positive number, not {memory!r}")
        huge_pages = data.get("huge_pages")
        if huge_pages is not None and not isinstance(huge_pages, bool):
            raise TilerError(f"huge_pages must be true or false, not {huge_pages!r}")
        for key in ("source", "cpu", "measured_at"):
            if not isinstance(data.get(key, ""), str):
                raise TilerError(f"{key!r} must be a string")
        bandwidth = data.get("memory_bandwidth_bytes_per_ns")
        if bandwidth is not None and (not _is_number(bandwidth) or bandwidth <= 0):
            raise TilerError(f"memory_bandwidth_bytes_per_ns must be a positive number, "
                             f"not {bandwidth!r}")
        confidence = data.get("confidence")
        if confidence is not None and (not _is_number(confidence) or not 0 <= confidence <= 1):
            raise TilerError(f"confidence must be between 0 and 1, not {confidence!r}")
        return Hierarchy(
            line_bytes=data["line_bytes"],
            levels=tuple(CacheLevel.from_dict(entry) for entry in data["levels"]),
            memory_latency_ns=None if memory is None else float(memory),
            source=data.get("source", "file"),
            cpu=data.get("cpu", ""),
            measured_at=data.get("measured_at", ""),
            huge_pages=huge_pages,
            nominal_levels=tuple(CacheLevel.from_dict(entry)
                                 for entry in data.get("nominal_levels", [])),
            memory_bandwidth_bytes_per_ns=None if bandwidth is None else float(bandwidth),
            confidence=None if confidence is None else float(confidence),
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_size(text: str) -> int:
    """Return the bytes a size such as ``48K``, ``2M``, ``1G`` or ``65536`` stands for.

    Suffixes are binary (K = 1024) and case-insensitive; a trailing ``B`` or ``iB`` is allowed.
    """
    match = _SIZE_PATTERN.match(text)
    if not match:
        raise TilerError(f"not a size: {text.strip()!r} (expected e.g. 48K, 2M, 32M or bytes)")
    size = float(match.group(1)) * _SUFFIX_BYTES[match.group(2).lower()]
    if size < 1 or size != int(size):
        raise TilerError(f"not a whole positive number of bytes: {text.strip()!r}")
    return int(size)


def parse_cache_sizes(text: str) -> Hierarchy:
    """Return the hierarchy ``--cache-sizes 48K,2M,32M`` describes (L1 first, no latencies)."""
    items = text.split(",")
    if not text.strip() or any(not item.strip() for item in items):
        raise TilerError(f"--cache-sizes needs a comma-separated list such as 48K,2M,32M, "
                         f"not {text!r}")
    sizes = [parse_size(item) for item in items]
    for inner, outer, text_outer in zip(sizes, sizes[1:], items[1:]):
        if outer <= inner:
            raise TilerError(f"cache sizes must increase strictly outwards: "
                             f"{text_outer.strip()!r} is not larger than the level before it")
    return Hierarchy(DEFAULT_LINE_BYTES,
                     tuple(CacheLevel(number, size, None)
                           for number, size in enumerate(sizes, start=1)),
                     source="cache-sizes")


def load_hierarchy(path: str) -> Hierarchy:
    """Return the hierarchy in the JSON file ``path``; raise ``TilerError`` naming the file."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise TilerError(f"cannot read the hierarchy: {error.strerror}", filename=path) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise TilerError(f"not JSON: {error.msg}", error.lineno, error.colno, path) from None
    try:
        return Hierarchy.from_dict(data)
    except TilerError as error:
        raise error.with_filename(path) from None


def cache_dir() -> Path:
    """Return tiler's per-user cache directory (``TILER_CACHE_DIR``, else XDG's, else ~/.cache)."""
    override = os.environ.get("TILER_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tiler"


def cache_path() -> Path:
    """Return the file the probed hierarchy is cached in."""
    return cache_dir() / "hierarchy.json"


def cpu_name() -> str:
    """Return the processor's model name (empty when the system does not say)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model"):
                return f"{value.strip()} ({os.cpu_count()} cpus)"
    except OSError:
        pass
    import platform
    return platform.processor()


def _warn(message: str) -> None:
    print(f"tiler: warning: {message}", file=sys.stderr)


def load_cached() -> Hierarchy | None:
    """Return the cached hierarchy of this processor, or ``None`` (with a warning if unusable)."""
    cached = load_cached_record()
    return None if cached is None else cached[0]


def load_cached_record() -> tuple[Hierarchy, dict] | None:
    """Return the cached hierarchy of this processor and the probe's record kept beside it
    (``{}`` when there is none), or ``None`` (with a warning if the file is unusable)."""
    path = cache_path()
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        hierarchy = Hierarchy.from_dict(data)
    except (OSError, ValueError, TilerError) as error:
        _warn(f"ignoring the cached hierarchy {path}: {error}")
        return None
    if data.get("format") != FORMAT_VERSION:
        _warn(f"ignoring the cached hierarchy {path}: written by another version of tiler")
        return None
    if hierarchy.cpu != cpu_name():
        # A home directory shared between machines must not carry one machine's caches to another.
        _warn(f"ignoring the cached hierarchy {path}: measured on {hierarchy.cpu!r}, "
              f"not on this {cpu_name()!r}")
        return None
    record = data.get(PROBE_RECORD_KEY)
    return hierarchy, record if isinstance(record, dict) else {}


# The key of the cache file under which the probe keeps its measurements and runs (see
# tiler/probe_cache.py); readers of the hierarchy ignore it.
PROBE_RECORD_KEY = "probe_record"


def save_cached(hierarchy: Hierarchy, record: dict | None = None) -> Path | None:
    """Write ``hierarchy`` (and the probe's ``record`` beside it) to the cache file atomically;
    return its path (``None``, warned, if not)."""
    path = cache_path()
    data = hierarchy.to_dict()
    if record:
        data[PROBE_RECORD_KEY] = record
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".hierarchy-",
                                         suffix=".json", delete=False) as handle:
            handle.write(json.dumps(data, indent=2) + "\n")
        os.replace(handle.name, path)
    except OSError as error:
        _warn(f"cannot cache the hierarchy in {path}: {error}")
        return None
    return path


def sysfs_levels(root: Path = SYSFS_CACHE_DIR) -> list[CacheLevel]:
    """Return the nominal data and unified caches sysfs lists for cpu0 (empty where absent)."""
    sizes: dict[int, int] = {}
    for index in sorted(root.glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            size = parse_size((index / "size").read_text())
        except (OSError, ValueError, TilerError):
            continue
        if kind in ("Data", "Unified"):
            sizes[level] = size
    levels, previous = [], 0
    for number, level in enumerate(sorted(sizes), start=1):
        if sizes[level] <= previous:
            break
        levels.append(CacheLevel(number, sizes[level], None))
        previous = sizes[level]
    return levels


def sysfs_line_bytes(root: Path = SYSFS_CACHE_DIR) -> int:
    """Return the L1 data cache line size sysfs reports, or ``DEFAULT_LINE_BYTES``."""
    for index in sorted(root.glob("index*")):
        try:
            if (index / "type").read_text().strip() in ("Data", "Unified"):
                return int((index / "coherency_line_size").read_text())
        except (OSError, ValueError):
            continue
    return DEFAULT_LINE_BYTES


def sysfs_hierarchy() -> Hierarchy:
    """Return the nominal hierarchy sysfs describes (no latencies; may have no levels)."""
    return Hierarchy(sysfs_line_bytes(), tuple(sysfs_levels()), source="sysfs", cpu=cpu_name())


def default_hierarchy() -> Hierarchy:
    """Return the cached probe result, running the quick probe once (and caching it) if none.

    When the probe finds no level at all (a curve too noisy to read), the nominal sysfs sizes
    stand in, with a warning; they are not cached, so the next run probes again. With neither,
    ``TilerError`` asks for ``--cache-sizes``.
    """
    cached = load_cached()
    if cached is not None:
        return cached
    from tiler.probe import run_probe
    from tiler.probe_cache import remember

    result = run_probe(quick=True)
    for warning in result.warnings:
        _warn(warning)
    if result.hierarchy.levels:
        return remember(result).hierarchy
    nominal = sysfs_hierarchy()
    if not nominal.levels:
        raise TilerError("no cache hierarchy: the latency probe found no level and sysfs lists "
                         "none; give the sizes with --cache-sizes (e.g. 48K,2M,32M)")
    _warn("the probe found no cache level; using the nominal sizes from sysfs")
    return nominal


def now_iso() -> str:
    """Return the current UTC time in ISO 8601, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
