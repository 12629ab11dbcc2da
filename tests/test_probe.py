"""The latency probe: level detection on synthetic curves, the kernels, and a run on this machine."""

import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from tiler import curve, probe, probe_command
from tiler.cli import main
from tiler.errors import TilerError
from tiler.hierarchy import CacheLevel, Hierarchy, cache_path, load_cached, sysfs_levels

KIB, MIB = 1 << 10, 1 << 20
# A hierarchy like many servers': 32 KiB L1, 512 KiB L2, 8 MiB L3, then memory.
CAPACITIES = (32 * KIB, 512 * KIB, 8 * MIB)
LATENCIES = (1.0, 4.0, 12.0, 90.0)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TILER_CACHE_DIR", str(tmp_path / "cache"))


def grid(points_per_octave=4, low=4 * KIB, high=256 * MIB):
    octaves = np.log2(high / low)
    count = int(octaves * points_per_octave) + 1
    return [round(low * 2 ** (k / points_per_octave) / 64) * 64 for k in range(count)]


def staircase(sizes, capacities=CAPACITIES, latencies=LATENCIES, *, tails=False, noise=0.0,
              seed=0):
    """Latency per load of a chase over each working set.

    Sharp steps are what an LRU cache gives a cyclic chase (every load misses once the cycle
    outgrows it); with ``tails`` a randomly replaced cache misses a fraction 1 - C/W instead.
    """
    sizes = np.asarray(sizes, dtype=float)
    latency = np.full(len(sizes), latencies[0])
    for capacity, inner, outer in zip(capacities, latencies, latencies[1:]):
        if tails:
            latency += (outer - inner) * np.clip(1 - capacity / sizes, 0, None)
        else:
            latency += (outer - inner) * (sizes > capacity)
    rng = np.random.default_rng(seed)
    return latency * np.exp(rng.normal(0, noise, len(sizes)))


def assert_levels_match(levels, capacities=CAPACITIES, latencies=LATENCIES, *, below=1.2,
                        above=1.2, latency_rel=0.1):
    assert [level.level for level in levels] == list(range(1, len(capacities) + 1))
    for level, capacity, latency in zip(levels, capacities, latencies):
        assert capacity / below <= level.size_bytes <= capacity * above, (level, capacity)
        assert level.latency_ns == pytest.approx(latency, rel=latency_rel)


@pytest.mark.parametrize("seed", range(5))
def test_sharp_steps_with_noise_are_found(seed):
    sizes = grid()
    analysis = probe.analyse_curve(sizes, staircase(sizes, noise=0.03, seed=seed))
    # The true size lies between two grid points a quarter octave (x1.19) apart.
    assert_levels_match(analysis.levels)
    assert analysis.memory_latency_ns == pytest.approx(90.0, rel=0.1)
    assert analysis.warnings == ()


@pytest.mark.parametrize("points_per_octave", [4, 8])
def test_random_replacement_tails_are_found(points_per_octave):
    sizes = grid(points_per_octave)
    levels = probe.detect_levels(sizes, staircase(sizes, tails=True, noise=0.01))
    # A 5% rise of a 1 - C/W miss curve is reached a little past C, never below it. The
    # latency of a level is its plateau's median, and the plateau is still the tail of the
    # level inside it, approaching the level's own latency from below.
    assert_levels_match(levels, below=1.0, above=1.25, latency_rel=0.15)


def test_levels_are_rounded_to_lines_and_strictly_increasing():
    sizes = grid()
    levels = probe.detect_levels(sizes, staircase(sizes, noise=0.02), line_bytes=128)
    assert all(level.size_bytes % 128 == 0 for level in levels)
    assert [level.size_bytes for level in levels] == sorted({level.size_bytes for level in levels})


@pytest.mark.parametrize("seed", range(5))
def test_a_noisy_curve_still_gives_every_level(seed):
    # 15% noise on every median is far worse than this shared machine gives (1-3%).
    sizes = grid()
    analysis = probe.analyse_curve(sizes, staircase(sizes, noise=0.15, seed=seed))
    assert_levels_match(analysis.levels, above=1.3)


@pytest.mark.parametrize("seed", range(5))
def test_a_very_noisy_curve_gives_no_invented_level(seed):
    sizes = grid()
    analysis = probe.analyse_curve(sizes, staircase(sizes, noise=0.25, seed=seed))
    # Noise may hide a level, but every level reported must be one of the true ones.
    assert len(analysis.levels) <= len(CAPACITIES)
    for level in analysis.levels:
        assert any(capacity / 1.6 <= level.size_bytes <= capacity * 1.6
                   for capacity in CAPACITIES), level
    sizes_found = [level.size_bytes for level in analysis.levels]
    assert sizes_found == sorted(set(sizes_found))


@pytest.mark.parametrize("seed", range(5))
def test_outliers_from_other_processes_are_not_levels(seed):
    # Interference only ever slows a sample down: one point in eight is 1.5 to 6 times too slow.
    sizes = grid()
    rng = np.random.default_rng(seed)
    latency = staircase(sizes, tails=seed % 2 == 1, noise=0.02, seed=seed)
    hit = rng.random(len(sizes)) < 1 / 8
    latency[hit] *= rng.uniform(1.5, 6.0, hit.sum())
    assert_levels_match(probe.detect_levels(sizes, latency), above=1.3, latency_rel=0.15)


@pytest.mark.parametrize("noise", [0.0, 0.02, 0.1, 0.3])
def test_a_curve_with_no_step_has_no_level(noise):
    sizes = grid()
    flat = 1.3 * np.exp(np.random.default_rng(1).normal(0, noise, len(sizes)))
    analysis = probe.analyse_curve(sizes, flat)
    assert analysis.levels == ()
    assert analysis.memory_latency_ns is None
    assert any("no step" in warning for warning in analysis.warnings)


def test_a_slow_drift_is_not_a_level():
    # A prefetched walk creeps up by a few percent per octave: no plateau is 1.5x another.
    sizes = grid()
    creeping = 1.2 * (np.asarray(sizes) / sizes[0]) ** 0.02
    assert probe.detect_levels(sizes, creeping) == []


def test_a_spike_inside_a_plateau_is_not_a_level():
    sizes = grid()
    latency = staircase(sizes, noise=0.01)
    latency[sizes.index(128 * KIB)] *= 5
    assert_levels_match(probe.detect_levels(sizes, latency))


def test_a_long_burst_of_load_is_not_a_level():
    # An octave of the L2 plateau measured while another process thrashed the caches: it looks
    # like L3, but latency cannot fall again at larger working sets.
    sizes = grid()
    latency = staircase(sizes, noise=0.01)
    burst = [i for i, size in enumerate(sizes) if 80 * KIB <= size <= 256 * KIB]
    latency[burst] *= 3
    assert_levels_match(probe.detect_levels(sizes, latency))


def test_a_curve_still_rising_at_its_end_reports_a_lower_bound():
    # The sweep stops an octave past L3, where the miss tail to memory is still climbing.
    sizes = grid(high=16 * MIB)
    analysis = probe.analyse_curve(sizes, staircase(sizes, tails=True, noise=0.01))
    assert_levels_match(analysis.levels, below=1.0, above=1.25, latency_rel=0.15)
    assert analysis.memory_latency_ns is None
    assert any("still rising" in warning for warning in analysis.warnings)


def test_a_single_step_is_one_level_then_memory():
    sizes = grid(high=4 * MIB)
    analysis = probe.analyse_curve(sizes, staircase(sizes, (64 * KIB,), (1.0, 80.0)))
    assert len(analysis.levels) == 1
    assert 64 * KIB / 1.2 <= analysis.levels[0].size_bytes <= 64 * KIB * 1.2
    assert analysis.memory_latency_ns == pytest.approx(80.0)


# The quick probe's curve on this project's 2-core AMD EPYC virtual machine (sysfs: L1d 48K,
# L2 1024K, L3 32768K), taken while other processes were busy on the other core; ns per load.
THIS_MACHINE_SIZES = grid(high=128 * MIB)
THIS_MACHINE_CHASE = [
    0.98, 0.98, 0.98, 0.98, 0.98, 0.98, 0.98, 0.98, 0.98, 0.98, 0.98, 0.99, 0.98, 0.98, 0.98,
    3.45, 3.43, 3.43, 3.42, 3.43, 3.43, 3.43, 3.43, 3.43, 3.42, 3.42, 3.42, 3.62, 3.88, 4.09,
    4.34, 6.47, 7.45, 8.35, 9.42, 10.52, 10.64, 11.36, 11.71, 12.17, 12.59, 12.38, 13.0, 13.26,
    13.12, 13.18, 13.24, 13.52, 14.57, 18.15, 24.78, 63.06, 120.21, 116.64, 114.3, 122.04,
    127.91, 126.86, 131.05, 133.93, 135.87]
THIS_MACHINE_TRIANGLE = [
    1.22, 1.23, 1.22, 1.22, 1.23, 1.23, 1.23, 1.22, 1.23, 1.22, 1.23, 1.22, 1.22, 1.23, 1.22,
    1.3, 1.29, 1.28, 1.27, 1.26, 1.26, 1.25, 1.25, 1.24, 1.25, 1.24, 1.23, 1.23, 1.23, 1.23,
    1.23, 1.29, 1.27, 1.31, 1.32, 1.29, 1.29, 1.3, 1.29, 1.29, 1.31, 1.29, 1.31, 1.27, 1.28,
    1.28, 1.28, 1.27, 1.3, 1.29, 1.32, 1.47, 1.55, 1.55, 1.53, 1.58, 1.56, 1.58, 1.59, 1.62,
    1.61]


def test_a_recorded_curve_of_this_machine():
    analysis = probe.analyse_curve(THIS_MACHINE_SIZES, THIS_MACHINE_CHASE)
    # L1: the last size before the jump (45.2 KiB) plus a twentieth of the next quarter octave.
    # L2: the chase starts missing well before 1 MiB (replacement is not LRU, and the core is
    # shared): its plateau's tail climbs a tenth of the way to L3 before the step, misses, so
    # L2 ends where that tail reaches 5% of the way. L3: what this virtual machine gets of the
    # 32 MiB shared last level; its plateau creeps from 10.5 to 13.5 ns, under 5% of the way to
    # memory, and ends where the latency has risen by a quarter over the creep's top (16.6 ns).
    assert [level.size_bytes for level in analysis.levels] == pytest.approx(
        [47040, 532352, 19388864], rel=0.02)
    assert [level.latency_ns for level in analysis.levels] == pytest.approx(
        [0.98, 3.43, 12.8], abs=0.05)
    assert analysis.memory_latency_ns == pytest.approx(128, rel=0.05)


def test_the_triangular_walk_of_this_machine_shows_no_level():
    # Ascending addresses are prefetched: 1.2 ns per load from 4 KiB to 128 MiB, no step.
    assert probe.detect_levels(THIS_MACHINE_SIZES, THIS_MACHINE_TRIANGLE) == []


@pytest.mark.parametrize("sizes, latencies", [
    ([1, 2, 3], [1, 1, 1]),
    ([4096, 8192, 8192, 16384], [1, 1, 1, 1]),
    ([4096, 8192, 16384, 32768], [1, 1, 1]),
    ([4096, 8192, 16384, 32768], [1, 1, 0, 1]),
])
def test_malformed_curves_are_errors(sizes, latencies):
    with pytest.raises(TilerError):
        probe.detect_levels(sizes, latencies)


def test_sweep_sizes_are_log_spaced_whole_lines_past_the_last_level():
    sizes = probe.sweep_sizes(probe.QUICK, 32 * MIB, 64)
    assert sizes[0] == 4 * KIB and sizes[-1] >= 64 * MIB
    assert all(size % 64 == 0 for size in sizes)
    ratios = np.diff(np.log2(sizes))
    assert np.all(ratios > 0) and np.allclose(ratios, 0.25, atol=0.02)


def test_no_compiler_is_an_error_naming_cc(monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    probe.compile_kernels.cache_clear()
    try:
        with pytest.raises(TilerError, match="CC"):
            probe.compile_kernels()
    finally:
        probe.compile_kernels.cache_clear()


def test_the_kernels_are_built_once_and_cached(tmp_path):
    probe.compile_kernels.cache_clear()
    first = probe.compile_kernels()
    assert first.exists() and first.is_relative_to(tmp_path / "cache")
    built_at = first.stat().st_mtime_ns
    probe.compile_kernels.cache_clear()
    assert probe.compile_kernels() == first
    assert first.stat().st_mtime_ns == built_at


def test_the_probe_buffer_is_in_huge_pages_where_the_kernel_offers_them():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as setting:
            offered = "[never]" not in setting.read()
    except OSError:
        offered = False
    if not offered:
        pytest.skip("no transparent huge pages on this kernel")
    kernels = probe._kernels()
    length, advised = 16 * MIB, probe.ctypes.c_int()
    buffer = kernels.probe_alloc(length, probe.HUGE_PAGE_BYTES, 1, probe.ctypes.byref(advised))
    try:
        assert buffer % probe.HUGE_PAGE_BYTES == 0 and advised.value == 1
        assert probe.huge_page_fraction(buffer, length) >= 0.9
    finally:
        kernels.probe_free(buffer, length)


def test_plot_without_matplotlib_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = probe.ProbeResult(Hierarchy(64, ()), (4096,), (1.0,), (1.0,), ((1.0,),), (), True,
                               0.0, 1.0, ())
    with pytest.raises(TilerError, match="matplotlib"):
        probe_command.plot_curve(result, str(tmp_path / "curve.png"))


def test_plot_draws_both_curves(tmp_path):
    pytest.importorskip("matplotlib")
    sizes = tuple(THIS_MACHINE_SIZES)
    result = probe.ProbeResult(
        Hierarchy(64, tuple(probe.detect_levels(sizes, THIS_MACHINE_CHASE)),
                  nominal_levels=(CacheLevel(1, 48 * KIB, None),)),
        sizes, tuple(THIS_MACHINE_CHASE), tuple(THIS_MACHINE_TRIANGLE),
        tuple((latency,) for latency in THIS_MACHINE_CHASE), (), True, 1.0, 1.0, ())
    path = tmp_path / "curve.png"
    probe_command.plot_curve(result, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# A run at least this confident is held to the nominal sizes below.
CONFIDENT = 0.5


def test_probe_on_this_machine(capsys, monkeypatch):
    """The quick probe, run as `tiler probe --quick --json`, finds this machine's L1 and L2.

    Bounds, against the nominal sizes in sysfs: a level can never hold more than it has, so the
    measured size is at most nominal, plus a quarter octave for the sweep's grid (x1.25). L1 is
    private to the core and almost never disturbed: at least half of it. L2 may be shared with
    another hyperthread or virtual machine on the same core and need not replace in LRU order,
    so a random chase starts to miss before it is full: at least a quarter of it. A detector that
    took L1 for L2, or L2 for L3, is off by 8x or more and fails.

    The work is bounded, not the time (the machine is shared): the sweep's sizes and the
    samples per size are at most what the quick settings allow.
    """
    results = []

    def run_and_keep(**options):
        results.append(probe.run_probe(**options))
        return results[-1]

    monkeypatch.setattr(probe_command, "run_probe", run_and_keep)
    assert main(["probe", "--quick", "--json"]) == 0
    output = capsys.readouterr().out
    measured = Hierarchy.from_dict(json.loads(output))
    assert measured.source == "probe" and measured.levels
    assert load_cached() == measured and cache_path().exists()
    assert 0 <= measured.confidence <= 1
    for level in measured.levels:
        assert level.size_low_bytes <= level.size_bytes <= level.size_high_bytes

    result, settings = results[0], probe.QUICK
    nominal_levels = sysfs_levels()
    last_level = nominal_levels[-1].size_bytes if nominal_levels else 32 * MIB
    # The grid, and the sizes added inside the step where each level ends.
    assert len(result.sizes) <= len(probe.sweep_sizes(settings, last_level, 64)) \
        + probe.REFINE_POINTS * (len(nominal_levels) or 4)
    assert all(settings.samples_per_visit <= len(samples)
               <= settings.samples_per_visit * settings.max_visits
               for samples in result.chase_samples)

    nominal = {level.level: level.size_bytes for level in sysfs_levels()}
    if not nominal:
        pytest.skip("sysfs gives no cache sizes here to compare with")
    levels = {level.level: level for level in measured.levels}
    # At a load of 10 on two cores the probe may read L2 and L3 as one level, and says it is
    # unsure (so that it never replaces a surer cached result): then only L1 is held to sysfs.
    checked = ((1, 1 / 2), (2, 1 / 4)) if measured.confidence >= CONFIDENT else ((1, 1 / 2),)
    for number, at_least in checked:
        if number in nominal:
            assert number in levels, f"L{number} not found: {measured.to_json()}"
            size = levels[number].size_bytes
            assert nominal[number] * at_least <= size <= nominal[number] * 1.25, (
                f"L{number} measured {size} bytes, sysfs says {nominal[number]}")
    latencies = [level.latency_ns for level in measured.levels]
    assert latencies == sorted(latencies)
    assert measured.memory_latency_ns is None or measured.memory_latency_ns > latencies[-1]
    bandwidths = [level.bandwidth_bytes_per_ns for level in measured.levels]
    assert all(bandwidth and bandwidth > 0 for bandwidth in bandwidths)
    assert measured.memory_bandwidth_bytes_per_ns > 0


def test_the_budgets_are_the_promised_ones():
    # What the README promises: --quick within 6 s, the full probe within 30 s, both counted
    # from the process's start and with time kept for the analysis.
    assert probe.QUICK.budget_s + probe.ANALYSIS_RESERVE_S / 2 <= 6.0
    assert probe.FULL.budget_s + probe.ANALYSIS_RESERVE_S / 2 <= 30.0


def test_plain_output_shows_measured_beside_nominal():
    result = probe.ProbeResult(
        Hierarchy(64, (CacheLevel(1, 47040, 0.98, 46976, 47104, 1.0, 120.0),
                       CacheLevel(2, 549440, 3.42, 520000, 560000, 0.9, 60.0)),
                  memory_latency_ns=120.0, huge_pages=True,
                  nominal_levels=(CacheLevel(1, 48 * KIB, None), CacheLevel(2, MIB, None),
                                  CacheLevel(3, 32 * MIB, None)),
                  memory_bandwidth_bytes_per_ns=15.0, confidence=0.9),
        (4096, 128 * MIB), (1.0, 120.0), (1.2, 1.5), ((1.0,), (120.0,)), (), True, 2.5, 1.0, (),
        load_average=3.5)
    report = probe_command.format_report(result)
    assert "45.9 KiB" in report and "48 KiB" in report
    assert "537 KiB" in report and "1 MiB" in report
    assert "508 KiB-547 KiB" in report and "0.90" in report
    assert "32 MiB" in report and "120 ns" in report
    assert "120 B/ns" in report and "15 B/ns" in report
    assert "huge pages" in report and "load 3.50" in report


# --- curves recorded on this project's machine under load (tests/data/, see its README) ---------

RECORDED_ALL = sorted((Path(__file__).parent / "data").glob("*.json"))
# At a load of 9 or more on two cores the quick probe got 27-48 of its 57 sizes, and what it read
# of L2 wandered to 0.6-1.0 MiB: those runs are kept for the merge rule, not held to the bar.
OVERLOADED = 9.0
RECORDED = [path for path in RECORDED_ALL
            if json.loads(path.read_text())["load_average"] < OVERLOADED]


def recorded(path):
    """Return the sizes, latencies, errors and nominal level count of a recorded run: the
    median over visits of each visit's least sample where the run kept them (visits in several
    layouts), else the low quantile of all its samples (runs in one layout)."""
    data = json.loads(path.read_text())
    if "visit_lows" in data:
        lows = data["visit_lows"]
        return (data["sizes"], [probe.layout_median(v) for v in lows],
                [probe.layout_median_error(v) for v in lows], len(data["sysfs_sizes"]))
    samples = data["chase_samples"]
    return (data["sizes"], [probe.low_quantile(s) for s in samples],
            [probe.low_quantile_error(s) for s in samples], len(data["sysfs_sizes"]))


def test_the_recordings_are_there():
    assert len(RECORDED) >= 6
    loads = [json.loads(path.read_text())["load_average"] for path in RECORDED_ALL]
    assert min(loads) > 2, "the recordings are meant to be of a loaded machine"


@pytest.mark.parametrize("path", [p for p in RECORDED_ALL if p not in RECORDED],
                         ids=lambda path: path.stem)
def test_an_overloaded_run_finds_l1_and_does_not_move_a_surer_cache(path):
    from tiler.probe_cache import choose
    sizes, latencies, errors, nominal = recorded(path)
    run = probe.analyse_with_intervals(sizes, latencies, errors, max_levels=nominal)
    quiet = probe.analyse_curve(THIS_MACHINE_SIZES, THIS_MACHINE_CHASE).levels
    assert 0.85 * quiet[0].size_bytes <= run.levels[0].size_bytes <= 1.15 * quiet[0].size_bytes
    best = recorded(Path(__file__).parent / "data" / "quick_loaded_3.json")
    cached = probe.analyse_with_intervals(*best[:3], max_levels=best[3])

    def as_hierarchy(analysis):
        return Hierarchy(64, analysis.levels, analysis.memory_latency_ns,
                         confidence=analysis.confidence)

    outcome, kept, _ = choose((as_hierarchy(cached), probe.measurements_of(
        best[0], best[1], best[2], [6] * len(best[0]))), (as_hierarchy(run), probe.measurements_of(
            sizes, latencies, errors, [3] * len(sizes))))
    # Merged in or left out, never in its place: the cached levels move by 10% at most.
    assert outcome in ("kept", "merged")
    for level, before in zip(kept.levels, cached.levels, strict=True):
        assert abs(level.size_bytes / before.size_bytes - 1) <= 0.1


@pytest.mark.parametrize("path", RECORDED, ids=lambda path: path.stem)
def test_recorded_noisy_curves_give_the_quiet_curves_levels(path):
    """Every run recorded under load gives this machine's L1 and L2 (those of the quiet
    reference curve above, within 20%; one run's L1 was genuinely smaller while another
    process streamed on the other core), an L3 between 2 MiB and the nominal 32 MiB (what a
    virtual machine sharing the chip gets of it moves with the neighbours' load), and no
    invented fourth level."""
    sizes, latencies, errors, nominal = recorded(path)
    quiet = probe.analyse_curve(THIS_MACHINE_SIZES, THIS_MACHINE_CHASE).levels
    analysis = probe.analyse_with_intervals(sizes, latencies, errors, max_levels=nominal)
    levels = analysis.levels
    assert [level.level for level in levels] == [1, 2, 3]
    assert 0.65 * quiet[0].size_bytes <= levels[0].size_bytes <= 1.2 * quiet[0].size_bytes
    assert 0.8 * quiet[1].size_bytes <= levels[1].size_bytes <= 1.2 * quiet[1].size_bytes
    assert 2 * MIB <= levels[2].size_bytes <= 32 * MIB
    for level in levels:
        assert level.size_low_bytes <= level.size_bytes <= level.size_high_bytes
        assert 0 <= level.confidence <= 1
    assert 0 <= analysis.confidence <= min(level.confidence for level in levels)
    assert analysis.memory_latency_ns > 100


def test_recorded_runs_agree_with_each_other():
    # The bar for repeated runs: L1 and L2 within 15% of each other. L2 over every
    # recording; L1 over the runs taken with interleaved visits (the earlier one-visit runs
    # include one where a streaming neighbour really left 33 KiB of L1).
    found = {path.stem: probe.analyse_with_intervals(*recorded(path)[:3],
                                                     max_levels=recorded(path)[3]).levels
             for path in RECORDED}
    l2 = [levels[1].size_bytes for levels in found.values()]
    assert max(l2) <= 1.15 * np.median(l2) and min(l2) >= np.median(l2) / 1.15
    l1 = [levels[0].size_bytes for name, levels in found.items() if "one_visit" not in name]
    assert max(l1) <= 1.15 * np.median(l1) and min(l1) >= np.median(l1) / 1.15


def test_the_envelope_is_what_keeps_l2_in_a_noisy_recording(monkeypatch):
    # Without lowering points to the latency measured just above them, the bursts on this
    # run's L3 plateau hide it, and the detector reports the L2 plateau's end at 1.4 MiB.
    sizes, latencies, _, nominal = recorded(
        Path(__file__).parent / "data" / "quick_loaded_one_visit_1.json")
    with_envelope = probe.analyse_curve(sizes, latencies, max_levels=nominal).levels
    assert 400 * KIB <= with_envelope[1].size_bytes <= 700 * KIB
    monkeypatch.setattr(curve, "ENVELOPE_OCTAVES", 0.0)
    without = probe.analyse_curve(sizes, latencies, max_levels=nominal).levels
    assert not 400 * KIB <= without[1].size_bytes <= 700 * KIB


def test_a_partly_available_last_level_is_not_a_fourth_level():
    # quick_loaded_1: a plateau at 80-87 ns from 13 to 23 MiB (the L3 freed for a moment)
    # between the 15 ns L3 and 150 ns memory: the smallest step is the one to memory.
    sizes, latencies, _, nominal = recorded(
        Path(__file__).parent / "data" / "quick_loaded_1.json")
    plain = probe.analyse_curve(sizes, latencies, max_levels=None)
    capped = probe.analyse_curve(sizes, latencies, max_levels=nominal)
    assert len(plain.levels) == 4
    assert [level.size_bytes for level in capped.levels] == \
        [level.size_bytes for level in plain.levels[:3]]
    assert any("4 levels" in warning for warning in capped.warnings)


def test_intervals_are_reproducible_and_widen_with_the_noise():
    sizes = grid()
    latencies = staircase(sizes, tails=True, noise=0.01, seed=3)
    calm = probe.analyse_with_intervals(sizes, latencies, [0.01] * len(sizes))
    assert calm == probe.analyse_with_intervals(sizes, latencies, [0.01] * len(sizes))
    noisy = probe.analyse_with_intervals(sizes, latencies, [0.1] * len(sizes))
    width = [level.size_high_bytes / level.size_low_bytes for level in calm.levels]
    noisy_width = [level.size_high_bytes / level.size_low_bytes for level in noisy.levels]
    assert all(a <= b for a, b in zip(width, noisy_width)) and sum(noisy_width) > sum(width)
    assert noisy.confidence < calm.confidence


def test_low_quantile_ignores_slowed_samples():
    # Three samples in ten slowed by another process move the median, not the low quantile.
    quiet = [3.40, 3.41, 3.42, 3.40, 3.43, 3.41, 3.42]
    assert probe.low_quantile(quiet + [9.0, 12.0, 30.0]) == pytest.approx(3.41, abs=0.01)
    assert probe.low_quantile_error([3.4] * 3) > probe.low_quantile_error([3.4] * 12)


def test_a_size_in_a_step_is_not_done_after_three_layouts_where_two_agree():
    # Two layouts of three at 7.0 ns and one at 10.4: the median deviation is nought, the
    # spread is not, and the size is visited again.
    assert probe.layout_median([7.0, 10.4, 7.0]) == 7.0
    assert probe.layout_median_error([7.0, 10.4, 7.0]) > 0.1
    assert probe.layout_median_error([7.0, 7.01, 7.0]) < 0.01
    # Past five visits the spread is the robust one: one slowed visit does not inflate it.
    assert probe.layout_median_error([7.0, 7.02, 6.99, 7.01, 30.0, 7.0]) < 0.02


def test_visits_of_a_size_walk_other_parts_of_the_buffer():
    from tiler.sweep import LAYOUT_ALIGN, Sweep
    length = 64 * MIB
    sizes = [256 * KIB, 1536 * KIB, 63 * MIB]
    sweep = Sweep(None, 0, length, sizes, 64, probe.QUICK, 32 * MIB)
    for index, size in enumerate(sizes):
        offsets = []
        for visit in range(8):
            sweep.visit_counts[index] = visit
            offsets.append(sweep.layout(index))
        assert offsets[0] == 0
        assert all(offset % LAYOUT_ALIGN == 0 and offset + size <= length for offset in offsets)
        if size <= length // 2:
            assert len(set(offsets)) >= 6, offsets
        else:
            assert set(offsets) == {0}


# --- a creeping plateau, and curves recorded on a Sapphire Rapids VM (tests/data/sapphire_rapids/)

def creeping_l2(sizes, l3_ns, *, noise=0.01, seed=0):
    """A chase over a 48 KiB L1 (1.3 ns), a 2 MiB L2 whose 4.3 ns creep up by 1.6 ns as the
    first-level TLB's 384 KiB reach is left behind (1 - reach/W), an L3 to 40 MiB, memory."""
    sizes = np.asarray(sizes, dtype=float)
    latency = np.where(sizes <= 48 * KIB, 1.3,
                       4.3 + 1.6 * np.clip(1 - 384 * KIB / sizes, 0, None))
    latency = np.where(sizes > 2 * MIB, l3_ns, latency)
    latency = np.where(sizes > 40 * MIB, 165.0, latency)
    return latency * np.exp(np.random.default_rng(seed).normal(0, noise, len(sizes)))


@pytest.mark.parametrize("seed", range(3))
def test_a_creep_that_is_not_misses_stays_inside_the_level(seed):
    # The creep (37%) is under 5% of the way to a 45 ns L3: L2 ends at its step, not on the
    # creep (a rise of a quarter over the plateau's median would end it near 1 MiB).
    sizes = grid()
    levels = probe.analyse_curve(sizes, creeping_l2(sizes, 45.0, seed=seed), max_levels=3).levels
    assert 2 * MIB / 1.1 <= levels[1].size_bytes <= 2 * MIB * 1.1


@pytest.mark.parametrize("seed", range(3))
def test_a_creep_that_may_be_misses_ends_the_level(seed):
    # The same creep is 16% of the way to a 14 ns L3, as much as a miss tail would add: the
    # level ends where the creep starts, the inner end.
    sizes = grid()
    levels = probe.analyse_curve(sizes, creeping_l2(sizes, 14.0, seed=seed), max_levels=3).levels
    assert 384 * KIB <= levels[1].size_bytes <= 1 * MIB


SAPPHIRE = sorted((Path(__file__).parent / "data" / "sapphire_rapids").glob("*.json"))


def step_of(sizes, latencies):
    """Return the size past 256 KiB where the latency reaches 1.6 times the L2's at 64-256 KiB
    (interpolated in octaves between the sizes around it): where a recorded Sapphire Rapids
    curve steps from L2 to L3 (the creep before it stays under 1.4)."""
    inside = np.median([latency for size, latency in zip(sizes, latencies)
                        if 64 * KIB <= size <= 256 * KIB])
    target = 1.6 * inside
    index = next(k for k, (size, latency) in enumerate(zip(sizes, latencies))
                 if size > 256 * KIB and latency > target)
    low, high = latencies[index - 1], latencies[index]
    fraction = min(max((target - low) / (high - low), 0.0), 1.0)
    return int(2 ** (math.log2(sizes[index - 1])
                     + fraction * math.log2(sizes[index] / sizes[index - 1])))


def test_the_sapphire_rapids_recordings_are_there():
    names = [path.stem for path in SAPPHIRE]
    assert sum("quiet" in name for name in names) >= 5
    assert sum("streaming" in name for name in names) >= 5


@pytest.mark.parametrize("path", SAPPHIRE, ids=lambda path: path.stem)
def test_a_sapphire_rapids_curve_gives_l1_and_l2_near_sysfs(path):
    """Every run, quiet or beside a 64 MiB stream: L1 and L2 within 0.5-1.1 times sysfs's 48 KiB
    and 2 MiB, L2 at the curve's own step (within a grid step below, 15% above: not on the
    creep before it, which a rise counted from the plateau's median ended at 0.6-1.3 MiB), and
    an L3."""
    sizes, latencies, errors, nominal = recorded(path)
    sysfs = json.loads(path.read_text())["sysfs_sizes"]
    levels = probe.analyse_with_intervals(sizes, latencies, errors, max_levels=nominal).levels
    assert [level.level for level in levels] == [1, 2, 3]
    for level, nominal_size in zip(levels[:2], sysfs):
        assert 0.5 * nominal_size <= level.size_bytes <= 1.1 * nominal_size, level
    step = step_of(sizes, latencies)
    assert step / 1.25 <= levels[1].size_bytes <= 1.15 * step
    assert levels[2].size_bytes > 2 * levels[1].size_bytes


def test_sapphire_rapids_runs_agree_with_each_other():
    """L1 within 15% over all ten runs. The L2 these runs saw moved between 1.3 and 2.0 MiB with
    its step (the core's L2 is shared with whatever the host runs beside this VM): two runs'
    L2 differ by at most 15% more than their curves' steps do."""
    found = []
    for path in SAPPHIRE:
        sizes, latencies, errors, nominal = recorded(path)
        levels = probe.analyse_with_intervals(sizes, latencies, errors, max_levels=nominal).levels
        found.append((levels[0].size_bytes, levels[1].size_bytes, step_of(sizes, latencies)))
    l1 = [first for first, _, _ in found]
    assert max(l1) <= 1.15 * np.median(l1) and min(l1) >= np.median(l1) / 1.15
    for _, l2, step in found:
        for _, other_l2, other_step in found:
            assert abs(math.log(l2 / other_l2)) <= abs(math.log(step / other_step)) \
                + math.log(1.15)


def test_the_runs_of_one_day_agree_within_the_bar():
    """Fourteen runs on 7 December, quiet or beside a 64 MiB stream, whose steps lay at
    1.4-1.7 MiB: L2 within 15% of their median, the issue's bar. Counted from the plateau's
    median, a rise of a quarter ended four of them on the creep at 0.9 MiB."""
    runs = [path for path in SAPPHIRE
            if (match := re.fullmatch(r"quick_(quiet|streaming)_(\d+)", path.stem))
            and int(match.group(2)) >= 6]
    assert len(runs) == 14
    l2 = []
    for path in runs:
        sizes, latencies, errors, nominal = recorded(path)
        l2.append(probe.analyse_with_intervals(sizes, latencies, errors,
                                               max_levels=nominal).levels[1].size_bytes)
    median = float(np.median(l2))
    assert all(median / 1.15 <= size <= 1.15 * median for size in l2), l2


LAYOUT_RUNS = [path for path in SAPPHIRE if "layouts" in path.stem]


def test_runs_over_several_layouts_agree_and_find_every_level():
    """Fourteen runs of 7 December that visit each size in several parts of the buffer, six
    quiet then eight beside a 64 MiB stream: three levels in each, L1 and L2 within 15% of
    their medians. The same machine read one layout per run a few minutes before put L2 at
    0.9-1.7 MiB (the pages under the working set decide how much of the L2 it gets)."""
    assert len(LAYOUT_RUNS) == 14
    found = []
    for path in LAYOUT_RUNS:
        sizes, latencies, errors, nominal = recorded(path)
        levels = probe.analyse_with_intervals(sizes, latencies, errors, max_levels=nominal).levels
        assert [level.level for level in levels] == [1, 2, 3], path.stem
        assert levels[2].size_bytes >= 8 * levels[1].size_bytes
        found.append(levels)
    for number in (0, 1):
        sizes = [levels[number].size_bytes for levels in found]
        median = float(np.median(sizes))
        assert all(median / 1.15 <= size <= 1.15 * median for size in sizes), sizes


def test_a_last_level_that_climbs_beside_a_stream_is_still_found():
    # A run beside the stream whose L3 climbed 0.21 per octave from 6 to 19 MiB (51 to 76 ns,
    # memory 170 ns): no piece under the usual slope, but the system lists three levels.
    path = Path(__file__).parent / "data" / "sapphire_rapids" / "quick_contended_l3.json"
    sizes, latencies, _, nominal = recorded(path)
    levels = probe.analyse_curve(sizes, latencies, max_levels=nominal).levels
    assert [level.level for level in levels] == [1, 2, 3]
    assert 8 * MIB <= levels[2].size_bytes <= 24 * MIB
    assert len(probe.analyse_curve(sizes, latencies).levels) == 2


def test_an_l3_seen_in_two_pieces_ends_where_the_outer_piece_does():
    # 37-40 ns to 5 MiB, then 50-60 ns to 31 MiB, memory at 170 ns: one L3 that ends past 30 MiB.
    path = Path(__file__).parent / "data" / "sapphire_rapids" / "quick_split_l3.json"
    sizes, latencies, _, nominal = recorded(path)
    levels = probe.analyse_curve(sizes, latencies, max_levels=nominal).levels
    assert [level.level for level in levels] == [1, 2, 3]
    assert levels[2].size_bytes >= 30 * MIB
    assert levels[2].latency_ns >= 50
