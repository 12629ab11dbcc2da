"""The hierarchy model: JSON shape, --cache-sizes, --hierarchy files, the per-user cache, sysfs."""

import json
from pathlib import Path

import pytest
from conftest import example_paths

from tiler import hierarchy as hier
from tiler.errors import TilerError
from tiler.hierarchy import (
    CacheLevel,
    Hierarchy,
    cache_path,
    load_cached,
    load_hierarchy,
    parse_cache_sizes,
    save_cached,
    sysfs_levels,
)

DESIGN_EXAMPLE = """
{"line_bytes": 64,
 "levels": [{"level": 1, "size_bytes": 45056, "latency_ns": 1.1},
            {"level": 2, "size_bytes": 1835008, "latency_ns": 4.0},
            {"level": 3, "size_bytes": 29360128, "latency_ns": 15.2}],
 "memory_latency_ns": 80.0,
 "source": "probe", "cpu": "…", "measured_at": "…"}
"""


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TILER_CACHE_DIR", str(tmp_path / "cache"))


def measured() -> Hierarchy:
    return Hierarchy(64, (CacheLevel(1, 47040, 0.98), CacheLevel(2, 549440, 3.42),
                          CacheLevel(3, 20923840, 13.6)),
                     memory_latency_ns=124.0, cpu=hier.cpu_name(), measured_at=hier.now_iso(),
                     huge_pages=True,
                     nominal_levels=(CacheLevel(1, 49152, None), CacheLevel(2, 1 << 20, None)))


def test_json_round_trip_keeps_every_field():
    original = measured()
    assert Hierarchy.from_dict(json.loads(original.to_json())) == original


def test_json_has_the_shape_of_the_design():
    data = json.loads(measured().to_json())
    assert data["line_bytes"] == 64
    assert data["levels"][0] == {"level": 1, "size_bytes": 47040, "latency_ns": 0.98}
    assert {"memory_latency_ns", "source", "cpu", "measured_at"} <= data.keys()


def test_the_design_example_loads(tmp_path):
    path = tmp_path / "h.json"
    path.write_text(DESIGN_EXAMPLE)
    loaded = load_hierarchy(str(path))
    assert [level.size_bytes for level in loaded.levels] == [45056, 1835008, 29360128]
    assert loaded.memory_latency_ns == 80.0
    assert loaded.levels[2].latency_ns == 15.2


@pytest.mark.parametrize("text, complaint", [
    ("{not json", "not JSON"),
    ('{"levels": []}', "line_bytes"),
    ('{"line_bytes": 64, "levels": [{"level": 1, "size_bytes": "big", "latency_ns": 1}]}',
     "size_bytes"),
    (('{"line_bytes": 64, "levels": [{"level": 1, "size_bytes": 2048, "latency_ns": 1},'
     ' {"level": 2, "size_bytes": 1024, "latency_ns": 3}]}'), "increase strictly"),
    ('{"line_bytes": 64, "levels": [{"level": 2, "size_bytes": 2048, "latency_ns": 1}]}',
     "numbered"),
    ('[1, 2]', "object"),
])
def test_a_bad_hierarchy_file_names_the_file_and_the_fault(tmp_path, text, complaint):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(TilerError) as raised:
        load_hierarchy(str(path))
    assert complaint in str(raised.value)
    assert str(path) in str(raised.value)


def test_a_missing_hierarchy_file_is_an_error(tmp_path):
    with pytest.raises(TilerError, match="cannot read"):
        load_hierarchy(str(tmp_path / "absent.json"))


@pytest.mark.parametrize("text, sizes", [
    ("48K,2M,32M", [48 << 10, 2 << 20, 32 << 20]),
    ("48k, 2m ,32m", [48 << 10, 2 << 20, 32 << 20]),
    ("32768,262144", [32768, 262144]),
    ("32KiB,1.5MB,1G", [32 << 10, 3 << 19, 1 << 30]),
    ("64K", [64 << 10]),
])
def test_cache_sizes_parse(text, sizes):
    parsed = parse_cache_sizes(text)
    assert [level.size_bytes for level in parsed.levels] == sizes
    assert [level.level for level in parsed.levels] == list(range(1, len(sizes) + 1))
    assert parsed.source == "cache-sizes"
    assert parsed.line_bytes == 64


@pytest.mark.parametrize("text", ["", "48K,,2M", "2M,48K", "48K,48K", "48X", "0", "-1K",
                                  "1.3K", "K", "48K;2M"])
def test_bad_cache_sizes_are_errors(text):
    with pytest.raises(TilerError):
        parse_cache_sizes(text)


def test_cache_location_honours_the_override_then_xdg(monkeypatch, tmp_path):
    assert cache_path() == tmp_path / "cache" / "hierarchy.json"
    monkeypatch.delenv("TILER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_path() == tmp_path / "xdg" / "tiler" / "hierarchy.json"


def test_cache_round_trip():
    assert load_cached() is None
    saved = save_cached(measured())
    assert saved == cache_path() and saved.exists()
    assert load_cached() == measured()


@pytest.mark.parametrize("content", ["{\"line_bytes\": 64, \"lev", "[]", "",
                                     '{"line_bytes": 64, "levels": [], "format": 99, "cpu": ""}'])
def test_a_corrupt_cache_file_is_ignored_with_a_warning(content, capsys):
    cache_path().parent.mkdir(parents=True)
    cache_path().write_text(content)
    assert load_cached() is None
    assert "warning" in capsys.readouterr().err


def test_a_cache_from_another_processor_is_ignored(capsys):
    foreign = Hierarchy(64, (CacheLevel(1, 32768, 1.0),), cpu="Some Other CPU (64 cpus)")
    cache_path().parent.mkdir(parents=True)
    cache_path().write_text(foreign.to_json())
    assert load_cached() is None
    assert "Some Other CPU" in capsys.readouterr().err


def test_default_hierarchy_uses_the_cache_without_probing(monkeypatch):
    save_cached(measured())
    import tiler.probe
    monkeypatch.setattr(tiler.probe, "run_probe", lambda quick: pytest.fail("probed again"))
    assert hier.default_hierarchy() == measured()


def test_default_hierarchy_probes_once_and_caches(monkeypatch):
    import tiler.probe
    calls = []

    def fake_probe(quick):
        calls.append(quick)
        return tiler.probe.ProbeResult(measured(), (), (), (), (), (), quick, 0.0, 1.0, ())

    monkeypatch.setattr(tiler.probe, "run_probe", fake_probe)
    assert hier.default_hierarchy() == measured()
    assert hier.default_hierarchy() == measured()
    assert calls == [True]


def write_sysfs(root: Path, entries):
    for number, (level, kind, size) in enumerate(entries):
        index = root / f"index{number}"
        index.mkdir(parents=True)
        (index / "level").write_text(f"{level}\n")
        (index / "type").write_text(f"{kind}\n")
        (index / "size").write_text(f"{size}\n")
        (index / "coherency_line_size").write_text("64\n")


def test_sysfs_levels_keep_data_and_unified_caches(tmp_path):
    write_sysfs(tmp_path, [(1, "Data", "48K"), (1, "Instruction", "32K"),
                           (2, "Unified", "1024K"), (3, "Unified", "32768K")])
    assert sysfs_levels(tmp_path) == [CacheLevel(1, 48 << 10, None), CacheLevel(2, 1 << 20, None),
                                      CacheLevel(3, 32 << 20, None)]
    assert hier.sysfs_line_bytes(tmp_path) == 64


def test_sysfs_levels_are_empty_where_sysfs_says_nothing(tmp_path):
    assert sysfs_levels(tmp_path / "absent") == []
    assert hier.sysfs_line_bytes(tmp_path / "absent") == hier.DEFAULT_LINE_BYTES


def test_default_hierarchy_falls_back_to_sysfs_when_the_probe_finds_nothing(monkeypatch, capsys):
    import tiler.probe
    empty = Hierarchy(64, (), cpu=hier.cpu_name())
    monkeypatch.setattr(tiler.probe, "run_probe", lambda quick: tiler.probe.ProbeResult(
        empty, (), (), (), (), (), quick, 0.0, 1.0, ("no step found",)))
    nominal = Hierarchy(64, (CacheLevel(1, 32768, None),), source="sysfs")
    monkeypatch.setattr(hier, "sysfs_hierarchy", lambda: nominal)
    assert hier.default_hierarchy() == nominal
    assert "sysfs" in capsys.readouterr().err
    assert load_cached() is None
    monkeypatch.setattr(hier, "sysfs_hierarchy", lambda: Hierarchy(64, (), source="sysfs"))
    with pytest.raises(TilerError, match="--cache-sizes"):
        hier.default_hierarchy()


# --- optional fields: intervals, confidence, bandwidths --------------------------------------

def with_intervals() -> Hierarchy:
    return Hierarchy(64, (CacheLevel(1, 47040, 0.98, 46976, 47104, 1.0, 120.0),
                          CacheLevel(2, 549440, 3.42, 512000, 600000, 0.9, 60.0),
                          CacheLevel(3, 9 << 20, 13.0, 8 << 20, 12 << 20, 0.7, 40.0)),
                     memory_latency_ns=140.0, cpu=hier.cpu_name(), measured_at=hier.now_iso(),
                     memory_bandwidth_bytes_per_ns=15.0, confidence=0.7)


def test_the_optional_fields_round_trip_and_old_json_still_loads():
    original = with_intervals()
    data = json.loads(original.to_json())
    assert data["levels"][1]["size_low_bytes"] == 512000
    assert data["levels"][1]["bandwidth_bytes_per_ns"] == 60.0
    assert data["memory_bandwidth_bytes_per_ns"] == 15.0 and data["confidence"] == 0.7
    assert Hierarchy.from_dict(data) == original
    # The fields the design lists are all still there, and a file without the new ones loads.
    assert {"line_bytes", "levels", "memory_latency_ns", "source", "cpu", "measured_at"} <= \
        data.keys()
    assert set(json.loads(measured().to_json())["levels"][0]) == \
        {"level", "size_bytes", "latency_ns"}
    assert Hierarchy.from_dict(json.loads(DESIGN_EXAMPLE)).levels[0].confidence is None


@pytest.mark.parametrize("change, complaint", [
    ({"size_low_bytes": 50000}, "interval"),
    ({"confidence": 1.5}, "confidence"),
    ({"bandwidth_bytes_per_ns": -1}, "bandwidth"),
    ({"size_high_bytes": "big"}, "size_high_bytes"),
])
def test_bad_optional_fields_are_errors(change, complaint):
    data = json.loads(with_intervals().to_json())
    data["levels"][0].update(change)
    with pytest.raises(TilerError, match=complaint):
        Hierarchy.from_dict(data)


def test_bandwidth_accessors():
    hierarchy = with_intervals()
    assert hierarchy.level_bandwidth(2) == 60.0 and hierarchy.level_bandwidth(4) is None
    assert hierarchy.bandwidth_for(16 << 10) == 120.0
    assert hierarchy.bandwidth_for(100 << 10) == 60.0
    assert hierarchy.bandwidth_for(64 << 20) == 15.0
    assert measured().bandwidth_for(64 << 20) is None


# --- the cache keeps measurements and merges runs --------------------------------------------

KIB, MIB = 1 << 10, 1 << 20
SIZES = [round(4096 * 2 ** (k / 4) / 64) * 64 for k in range(57)]


def run_of(l2_bytes: int, error: float, seed: int = 0):
    """Return a ProbeResult of a synthetic chase curve (steps at 46 KiB, l2_bytes, 9 MiB) whose
    points are uncertain by ``error`` (and scattered by it)."""
    import numpy as np

    from tiler.curve import analyse_with_intervals
    from tiler.probe import ProbeResult
    sizes = np.asarray(SIZES, dtype=float)
    latency = np.full(len(sizes), 1.0)
    for capacity, inner, outer in ((46 * KIB, 1.0, 3.4), (l2_bytes, 3.4, 13.0),
                                   (9 * MIB, 13.0, 140.0)):
        latency += (outer - inner) * (sizes > capacity)
    latency *= np.exp(np.random.default_rng(seed).normal(0, error, len(sizes)))
    errors = [error] * len(sizes)
    analysis = analyse_with_intervals(SIZES, latency, errors, max_levels=3)
    hierarchy = Hierarchy(64, analysis.levels, analysis.memory_latency_ns, cpu=hier.cpu_name(),
                          measured_at=hier.now_iso(), confidence=analysis.confidence)
    return ProbeResult(hierarchy, tuple(SIZES), tuple(latency), tuple(latency),
                       tuple((v,) * 6 for v in latency), (), True, 5.0, 1.0, (),
                       tuple(errors), (), 4.0)


def test_measurements_merge_by_precision_or_keep_the_lower():
    from tiler.measurements import measurements_of, merge_measurements
    old = measurements_of([4096, 8192, 16384], [1.0, 2.0, 3.0], [0.01, 0.01, 0.01], [6, 6, 6])
    new = measurements_of([8192, 16384, 32768], [2.01, 6.0, 9.0], [0.01, 0.01, 0.02], [3, 3, 3])
    merged = merge_measurements(old, new)
    assert merged.sizes == (4096, 8192, 16384, 32768)
    # 8192: both agree, the mean of the two in log space, more precise than either.
    assert merged.latency_ns[1] == pytest.approx((2.0 * 2.01) ** 0.5, rel=1e-6)
    assert merged.log_error[1] < 0.01 and merged.samples[1] == 9
    # 16384: 2x apart is no noise: one run was slowed, the lower one is kept as it was.
    assert merged.latency_ns[2] == pytest.approx(3.0) and merged.samples[2] == 6
    assert merged.latency_ns[0] == pytest.approx(1.0) and merged.latency_ns[3] == pytest.approx(9.0)


def test_a_first_run_is_cached_with_its_measurements():
    from tiler.probe_cache import remember
    result = run_of(512 * KIB, 0.01)
    remembered = remember(result)
    assert remembered.outcome == "new" and remembered.path == cache_path()
    hierarchy, record = hier.load_cached_record()
    assert hierarchy == result.hierarchy
    assert record["measurements"]["sizes"] == SIZES and len(record["runs"]) == 1


def test_a_noisier_run_does_not_replace_the_cache():
    from tiler.probe_cache import remember
    quiet = run_of(512 * KIB, 0.01)
    remember(quiet)
    before = cache_path().read_text()
    noisy = run_of(300 * KIB, 0.2, seed=5)
    assert noisy.hierarchy.confidence < quiet.hierarchy.confidence
    remembered = remember(noisy)
    # The noisy run is merged in only if that leaves the result at least as certain, and its
    # L2 at 300 KiB does not take the cached one's place.
    assert remembered.outcome in ("kept", "merged")
    if remembered.outcome == "kept":
        assert cache_path().read_text() == before and load_cached() == quiet.hierarchy
    assert remembered.hierarchy.confidence >= quiet.hierarchy.confidence
    assert [level.size_bytes for level in load_cached().levels] == pytest.approx(
        [level.size_bytes for level in quiet.hierarchy.levels], rel=0.1)


def test_the_merge_rule_never_takes_a_less_certain_result():
    from tiler.probe_cache import choose
    quiet, noisy = run_of(512 * KIB, 0.01), run_of(300 * KIB, 0.2, seed=5)
    outcome, hierarchy, _ = choose((quiet.hierarchy, quiet.measurements()),
                                   (noisy.hierarchy, noisy.measurements()))
    assert outcome != "replaced" and hierarchy.confidence >= quiet.hierarchy.confidence
    # The other way round the quiet run is the surer one and takes the cache's place or merges.
    outcome, hierarchy, _ = choose((noisy.hierarchy, noisy.measurements()),
                                   (quiet.hierarchy, quiet.measurements()))
    assert outcome in ("merged", "replaced") and hierarchy.confidence >= quiet.hierarchy.confidence


def test_an_equally_certain_run_is_merged_and_fresh_starts_over():
    from tiler.probe_cache import remember
    first = run_of(512 * KIB, 0.01, seed=1)
    remember(first)
    second = run_of(512 * KIB, 0.01, seed=2)
    remembered = remember(second)
    assert remembered.outcome == "merged" and remembered.runs == 2
    _, record = hier.load_cached_record()
    assert set(record["measurements"]["samples"]) == {12}
    assert 480 * KIB <= remembered.hierarchy.levels[1].size_bytes <= 560 * KIB
    fresh = remember(run_of(512 * KIB, 0.01, seed=3), fresh=True)
    assert fresh.outcome == "new" and fresh.runs == 1


def test_probe_show_prints_the_cached_result_without_measuring(monkeypatch, capsys):
    import tiler.probe_command
    from tiler.cli import main
    from tiler.probe_cache import remember
    monkeypatch.setattr(tiler.probe_command, "run_probe",
                        lambda **options: pytest.fail("measured"))
    assert main(["probe", "--show"]) == 1
    assert "no cached hierarchy" in capsys.readouterr().err
    remember(run_of(512 * KIB, 0.01))
    assert main(["probe", "--show"]) == 0
    shown = capsys.readouterr().out
    assert "merged from 1 run" in shown and "--quick" in shown and "load 4.0" in shown
    assert "interval" in shown and "conf." in shown
    assert main(["probe", "--show", "--json"]) == 0
    assert Hierarchy.from_dict(json.loads(capsys.readouterr().out)) == load_cached()


# --- tile sizes that do not follow the noise ----------------------------------------------------

EXAMPLES = example_paths()          # (not the FILE.tiled.c files the quick start leaves)
GEMM_LIKE = """for (i = 0; i < N; i++)
  for (k = 0; k < N; k++)
    for (j = 0; j < N; j++)
      C[i][j] += A[i][k] * B[k][j];
"""


def recorded_hierarchy(name: str = "quick_loaded_2") -> Hierarchy:
    """Return the hierarchy, with intervals, of a probe run recorded under load (its L2
    interval is wide: 522-927 KiB)."""
    from tiler.curve import analyse_with_intervals
    from tiler.probe import low_quantile, low_quantile_error
    data = json.loads((Path(__file__).parent / "data" / f"{name}.json").read_text())
    samples = data["chase_samples"]
    analysis = analyse_with_intervals(data["sizes"], [low_quantile(s) for s in samples],
                                      [low_quantile_error(s) for s in samples], max_levels=3)
    return Hierarchy(64, analysis.levels, analysis.memory_latency_ns, source="test")


def moved_to(hierarchy: Hierarchy, end: str) -> Hierarchy:
    """Return the hierarchy with every level's size at one end of its interval (``low`` or
    ``high``), the interval itself unchanged: what another run within the noise reports."""
    import dataclasses
    key = "size_low_bytes" if end == "low" else "size_high_bytes"
    return dataclasses.replace(hierarchy, levels=tuple(
        dataclasses.replace(level, size_bytes=getattr(level, key)) for level in hierarchy.levels))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_tile_sizes_are_the_same_at_both_ends_of_each_interval(example):
    from dataclasses import replace

    from tiler import TileOptions, tile_source
    hierarchy = recorded_hierarchy()
    assert hierarchy.levels[1].size_high_bytes > 1.5 * hierarchy.levels[1].size_low_bytes
    text = example.read_text()
    chosen, decided = {}, {}
    for end in ("low", "high"):
        options = TileOptions(hierarchy=moved_to(hierarchy, end))
        decided[end] = [region.tiled for region in tile_source(text, str(example),
                                                                options).regions]
        # the sizes, also where the decision leaves the nest as it is
        result = tile_source(text, str(example), replace(options, decide=False))
        chosen[end] = [band.sizes for region in result.regions for band in region.bands]
    assert chosen["low"] and chosen["low"] == chosen["high"]
    assert decided["low"] == decided["high"]


def test_the_choice_is_best_in_its_worst_case_over_the_interval():
    """Among the sizes chosen for each end of the interval alone, the pass's choice has the
    lowest worst-case cost over the interval (a cost can only fall as a level grows)."""
    from tiler.dependences import compute_dependences
    from tiler.declarations import scan_declarations
    from tiler.footprint import band_shape
    from tiler.frontend import RegionContext, build_scop
    from tiler.schedule import original_schedule, original_schedule_map, tileable_bands
    from tiler.tilesize import choose_tile_sizes
    declared = scan_declarations("double A[2000][2000], B[2000][2000], C[2000][2000];")
    scop = build_scop(GEMM_LIKE, 1, RegionContext(declared, type_sizes={"double": 8}))
    deps = compute_dependences(scop, original_schedule_map(scop)).all
    (band,) = tileable_bands(original_schedule(scop, deps))
    shape = band_shape(scop, band, {"N": 2000}, scop.element_bytes)
    hierarchy = recorded_hierarchy()

    def without_intervals(end):
        import dataclasses
        return dataclasses.replace(moved_to(hierarchy, end), levels=tuple(
            dataclasses.replace(level, size_low_bytes=None, size_high_bytes=None)
            for level in moved_to(hierarchy, end).levels))

    ends = [without_intervals("low"), without_intervals("high")]

    def worst(sizes):
        return max(choose_tile_sizes(shape, end, only=sizes).nanoseconds_per_iteration
                   for end in ends)

    chosen = choose_tile_sizes(shape, hierarchy).sizes
    alternatives = {choose_tile_sizes(shape, end).sizes for end in ends}
    assert len(alternatives) == 2, "the interval should matter to the point estimate's choice"
    assert all(worst(chosen) <= worst(other) for other in alternatives)
