"""``tiler bench`` on tiny kernels: every variant is built, checked and timed, a planted
miscompile is caught, a missing Polly is reported, and a suite gets its geometric means.

The kernels are a few dozen iterations per loop, so each run takes microseconds and the whole
module a few seconds; the figures are only checked for consistency, never for speed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tiler import pipeline
from tiler.bench import (
    BenchSettings,
    add_bench_arguments,
    bench_kernels,
    describe_suite,
    run_bench_command,
    suite_to_dict,
)
from tiler.bench import variants as bench_variants
from tiler.bench.command import settings_from_arguments, suite_files
from tiler.bench.harness import CONTRACTION_NOTE, CONTRACTION_TOLERANCE
from tiler.bench.programs import Output, compare_outputs, load_kernel, measure
from tiler.bench.tune import TUNING_SIZES
from tiler.errors import TilerError
from tiler.hierarchy import parse_cache_sizes

HIERARCHY = parse_cache_sizes("48K,1M,32M")
FAST = ("-O1",)

TIMER = """\
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>
"""
REPORT = """\
  clock_gettime(CLOCK_MONOTONIC, &stop);
  fprintf(stderr, "kernel_time_s: %.6f\\n",
          (stop.tv_sec - start.tv_sec) + 1e-9 * (stop.tv_nsec - start.tv_nsec));
"""

# A 3-deep band: B += A * A.
MATMUL = TIMER + """\
#ifndef N
#define N 24
#endif
static double A[N][N], B[N][N];
int main(void)
{
  int i, j, k;
  double sum = 0.0;
  struct timespec start, stop;
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++) {
      A[i][j] = (double) ((i * 7 + j) % 11) / 11.0;
      B[i][j] = 0.0;
    }
  clock_gettime(CLOCK_MONOTONIC, &start);
#pragma scop
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      for (k = 0; k < N; k++)
        B[i][j] = B[i][j] + A[i][k] * A[k][j];
#pragma endscop
""" + REPORT + """\
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      sum += B[i][j] * (1 + (i + 2 * j) % 5);
  printf("checksum: %.17g\\n", sum);
  return 0;
}
"""

# A 2-deep band: B = B + transpose(A).
TRANSPOSE = TIMER + """\
#ifndef N
#define N 160
#endif
static double A[N][N], B[N][N];
int main(void)
{
  int i, j;
  double sum = 0.0;
  struct timespec start, stop;
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++) {
      A[i][j] = (double) ((i * 3 + j * 5) % 7);
      B[i][j] = (double) (i - j);
    }
  clock_gettime(CLOCK_MONOTONIC, &start);
#pragma scop
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      B[i][j] = B[i][j] + A[j][i];
#pragma endscop
""" + REPORT + """\
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      sum += B[i][j] * (1 + (i * 7 + j) % 13);
  printf("checksum: %.17g\\n", sum);
  return 0;
}
"""

# A stand-in for PolyBench's utilities, written for this test: the same switches
# (POLYBENCH_TIME prints the time as a bare number on stdout, POLYBENCH_DUMP_ARRAYS lets the
# kernel dump its arrays on stderr) and the same instrument macros.
POLYBENCH_H = """\
#ifndef POLYBENCH_H
#define POLYBENCH_H
void polybench_timer_start(void);
void polybench_timer_stop(void);
void polybench_timer_print(void);
#ifdef POLYBENCH_TIME
# define polybench_start_instruments polybench_timer_start()
# define polybench_stop_instruments polybench_timer_stop()
# define polybench_print_instruments polybench_timer_print()
#else
# define polybench_start_instruments
# define polybench_stop_instruments
# define polybench_print_instruments
#endif
#endif
"""
POLYBENCH_C = """\
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>
#include "polybench.h"
static struct timespec started, stopped;
void polybench_timer_start(void) { clock_gettime(CLOCK_MONOTONIC, &started); }
void polybench_timer_stop(void) { clock_gettime(CLOCK_MONOTONIC, &stopped); }
void polybench_timer_print(void)
{
  printf("%0.6f\\n", (stopped.tv_sec - started.tv_sec)
                     + 1e-9 * (stopped.tv_nsec - started.tv_nsec));
}
"""
SMOOTH = """\
#include <stdio.h>
#include "polybench.h"
#ifndef N
#define N 28
#endif
static double A[N][N];
int main(void)
{
  int i, j;
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      A[i][j] = (double) ((i * j + 3) % 17);
  polybench_start_instruments;
#pragma scop
  for (i = 1; i < N; i++)
    for (j = 1; j < N; j++)
      A[i][j] = (A[i - 1][j] + A[i][j - 1]) * 0.5;
#pragma endscop
  polybench_stop_instruments;
  polybench_print_instruments;
#ifdef POLYBENCH_DUMP_ARRAYS
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      fprintf(stderr, "%0.6f\\n", A[i][j]);
#endif
  return 0;
}
"""


def write_kernel(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.c"
    path.write_text(text)
    return path


def settings_for(cc: tuple[str, ...], **changes) -> BenchSettings:
    base = {"compiler": cc, "flags": FAST, "repeat": 2, "autotune": "none", "budget": 3,
            "hierarchy": HIERARCHY, "timeout_s": 60.0}
    return BenchSettings(**{**base, **changes})


def plant_miscompile(monkeypatch: pytest.MonkeyPatch, when_sizes: tuple[int, ...]) -> None:
    """Make the pass turn the first ``+`` of the first statement into ``-`` whenever it is
    asked for ``when_sizes``: a wrong tiling that compiles and runs. (Without register
    tiles, so that every instance runs the statement's macro: a micro-tile's vector code
    may cover them all.)"""
    real = pipeline.tile_source

    def perturbed(text, filename, options):
        if options.tile_sizes != when_sizes:
            return real(text, filename, options)
        result = real(text, filename, dataclasses.replace(options, register_tiles=False))
        wrong = re.sub(r"^(#define S0\(.*?) \+ ", r"\1 - ", result.text, count=1,
                       flags=re.MULTILINE)
        assert wrong != result.text
        return pipeline.TileResult(wrong, result.regions)

    monkeypatch.setattr(pipeline, "tile_source", perturbed)


def parse_bench_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tiler bench")
    add_bench_arguments(parser)
    return parser.parse_args(argv)


def test_every_variant_with_consistent_json(tmp_path, cc, capsys):
    pytest.importorskip("optuna")
    kernel = write_kernel(tmp_path, "matmul", MATMUL)
    output = tmp_path / "bench.json"
    args = parse_bench_arguments([str(kernel), "--cc", shlex.join(cc), "--cflags=-O1",
                                  "--sizes", "N=64", "--repeat", "2", "--autotune-budget", "3",
                                  "--cache-sizes", "2K,8K,32K", "--json", str(output),
                                  "--keep-builds", str(tmp_path / "builds"), "--quiet"])
    assert run_bench_command(args) == 0
    table = capsys.readouterr().out
    assert "matmul" in table and "geomean" in table

    data = json.loads(output.read_text())
    assert data["compiler"]["flags"] == ["-O1", "-DN=64"]
    assert data["autotune"]["budget"] == 3
    # caches smaller than the 64x64 matrices, so that the model finds tiling worth it
    assert [level["size_bytes"] for level in data["hierarchy"]["levels"]] == \
        [2 << 10, 8 << 10, 32 << 10]
    result = data["kernels"]["matmul"]
    assert set(result["variants"]) == {"original", "default", "fixed32", "autotuned"}
    for name, variant in result["variants"].items():
        assert variant["ok"] is True, (name, variant["note"])
        assert isinstance(variant["median_s"], float) and variant["median_s"] > 0
        assert len(variant["times_s"]) == 2
        assert variant["min_s"] <= variant["median_s"] <= variant["max_s"]
        assert variant["timing"] == "kernel"
        assert variant["speedup"] == pytest.approx(result["variants"]["original"]["median_s"]
                                                   / variant["median_s"])
    assert result["variants"]["original"]["tile_sizes"] == []
    assert result["variants"]["fixed32"]["tile_sizes"] == [[32, 32, 32]]
    assert result["variants"]["fixed32"]["given_sizes"] == [32]
    # the model was shown the problem size of the build (N=64), not the file's own (24)
    model_sizes = result["variants"]["default"]["tile_sizes"][0]
    assert len(model_sizes) == 3 and max(model_sizes) <= 64 and max(model_sizes) > 24
    tuning = result["tuning"]
    assert tuning["evaluations"] == 3 and len(tuning["trials"]) == 3
    assert all(len(trial["sizes"]) == 3 and set(trial["sizes"]) <= set(TUNING_SIZES)
               for trial in tuning["trials"])
    best = min((t for t in tuning["trials"] if t["seconds"] is not None),
               key=lambda t: t["seconds"])
    assert tuning["best_sizes"] == best["sizes"]
    assert result["variants"]["autotuned"]["given_sizes"] == best["sizes"]
    assert result["tuning_s"] > 0 and result["variants"]["autotuned"]["choice_s"] > 0
    assert result["default_vs_autotuned"] == pytest.approx(
        result["variants"]["default"]["speedup"] / result["variants"]["autotuned"]["speedup"])
    assert data["geomean"]["speedup"]["default"] == pytest.approx(
        result["variants"]["default"]["speedup"])
    assert data["geomean"]["kernels"]["autotuned"] == 1


def test_a_planted_miscompile_is_reported_wrong(tmp_path, cc, monkeypatch):
    plant_miscompile(monkeypatch, when_sizes=(32,))
    kernel = write_kernel(tmp_path, "matmul", MATMUL)
    suite = bench_kernels([kernel], settings_for(cc), tmp_path / "builds")
    variants = suite.kernels[0].variants
    assert variants["default"].ok
    wrong = variants["fixed32"]
    assert wrong.status == "wrong" and not wrong.ok
    assert wrong.median_s is None and wrong.times_s == ()
    assert "differs" in wrong.note
    assert suite.kernels[0].speedup("fixed32") is None
    data = suite_to_dict(suite)
    assert data["kernels"]["matmul"]["variants"]["fixed32"]["ok"] is False
    assert data["kernels"]["matmul"]["variants"]["fixed32"]["median_s"] is None
    assert data["geomean"]["speedup"]["fixed32"] is None
    assert data["geomean"]["kernels"]["fixed32"] == 0
    assert "WRONG" in describe_suite(suite)


def test_a_tiling_that_does_not_compile_is_reported(tmp_path, cc, monkeypatch):
    real = pipeline.tile_source

    def broken(text, filename, options):
        result = real(text, filename, options)
        return pipeline.TileResult(result.text.replace("#pragma endscop", "}}\n#pragma endscop")
                                   if options.tile_sizes else result.text, result.regions)

    monkeypatch.setattr(pipeline, "tile_source", broken)
    kernel = write_kernel(tmp_path, "transpose", TRANSPOSE)
    result = bench_kernels([kernel], settings_for(cc), tmp_path / "builds").kernels[0]
    assert result.variants["fixed32"].status == "build-error"
    assert "error" in result.variants["fixed32"].note
    assert result.variants["default"].ok and result.variants["original"].ok


def test_polly_absent_is_a_note_not_a_failure(tmp_path, cc, monkeypatch):
    monkeypatch.setattr(bench_variants.shutil, "which", lambda name: None)
    found = bench_variants.find_polly()
    assert found.compiler is None and "no clang with Polly" in found.note
    kernel = write_kernel(tmp_path, "transpose", TRANSPOSE)
    suite = bench_kernels([kernel], settings_for(cc, polly_note=found.note),
                          tmp_path / "builds")
    variants = suite.kernels[0].variants
    assert variants["polly"].status == "skipped" and variants["clang"].status == "skipped"
    assert variants["polly"].note == found.note
    assert variants["default"].ok
    assert f"skipped: {found.note}" in describe_suite(suite)
    assert suite_to_dict(suite)["geomean"]["speedup"]["polly"] is None


def test_a_clang_without_polly_is_told_apart(monkeypatch):
    monkeypatch.setattr(bench_variants.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(bench_variants, "_polly_works", lambda compiler: False)
    found = bench_variants.find_polly(["clang-99"])
    assert found.compiler is None and "without Polly" in found.note


def test_suite_geometric_means(tmp_path, cc):
    write_kernel(tmp_path / "suite", "matmul", MATMUL)
    write_kernel(tmp_path / "suite", "transpose", TRANSPOSE)
    (tmp_path / "suite" / "matmul.tiled.c").write_text(MATMUL)
    (tmp_path / "suite" / "helper.c").write_text("int helper(void) { return 1; }\n")
    paths = suite_files(tmp_path / "suite")
    assert [path.name for path in paths] == ["matmul.c", "transpose.c"]
    suite = bench_kernels(paths, settings_for(cc), tmp_path / "builds")
    data = suite_to_dict(suite)
    assert list(data["kernels"]) == ["matmul", "transpose"]
    for name in ("default", "fixed32"):
        speedups = [data["kernels"][kernel]["variants"][name]["speedup"]
                    for kernel in ("matmul", "transpose")]
        expected = math.exp(sum(map(math.log, speedups)) / 2)
        assert data["geomean"]["speedup"][name] == pytest.approx(expected)
        assert data["geomean"]["kernels"][name] == 2
    assert data["geomean"]["speedup"]["original"] == pytest.approx(1.0)
    assert "autotuned" not in data["kernels"]["matmul"]["variants"]


def test_exhaustive_search_covers_its_grid(tmp_path, cc):
    kernel = write_kernel(tmp_path, "transpose", TRANSPOSE)
    settings = settings_for(cc, autotune="exhaustive", exhaustive_sizes=(8, 16))
    result = bench_kernels([kernel], settings, tmp_path / "builds").kernels[0]
    assert [trial.sizes for trial in result.tuning.trials] == [(8, 8), (8, 16), (16, 8),
                                                              (16, 16)]
    assert result.variants["autotuned"].ok
    assert result.variants["autotuned"].given_sizes == result.tuning.best.sizes


def test_a_polybench_tree(tmp_path, cc, monkeypatch):
    utilities = tmp_path / "polybench" / "utilities"
    utilities.mkdir(parents=True)
    (utilities / "polybench.h").write_text(POLYBENCH_H)
    (utilities / "polybench.c").write_text(POLYBENCH_C)
    kernel = write_kernel(tmp_path / "polybench" / "stencils" / "smooth", "smooth", SMOOTH)
    assert load_kernel(kernel).polybench
    assert suite_files(tmp_path / "polybench") == [kernel]
    suite = bench_kernels([kernel], settings_for(cc), tmp_path / "builds")
    variants = suite.kernels[0].variants
    for name in ("original", "default", "fixed32"):
        assert variants[name].ok, variants[name].note
        assert variants[name].timing == "polybench"

    # stdout holds only the time: the wrong tiling is caught by the dumped arrays
    plant_miscompile(monkeypatch, when_sizes=(32,))
    suite = bench_kernels([kernel], settings_for(cc), tmp_path / "builds-wrong")
    assert suite.kernels[0].variants["fixed32"].status == "wrong"
    assert suite.kernels[0].variants["default"].ok


def test_outputs_compare_within_a_relative_tolerance():
    assert compare_outputs("checksum: 1.0000000000001", "checksum: 1.0000000000002",
                           1e-9).matches
    different = compare_outputs("checksum: 1.5", "checksum: 1.6", 1e-9)
    assert not different.matches and different.max_relative_difference > 0.05
    assert not compare_outputs("checksum: 1.5", "total: 1.5", 1e-9).matches
    assert not compare_outputs("1 2 3", "1 2", 1e-9).matches


def test_times_come_from_the_program_when_it_reports_them(tmp_path):
    plain = load_kernel(write_kernel(tmp_path, "matmul", MATMUL))
    timed = measure(Output("checksum: 1\n", "kernel_time_s: 0.250000\n", 1.0), plain)
    assert (timed.seconds, timed.source) == (0.25, "kernel")
    untimed = measure(Output("checksum: 1\n", "", 1.5), plain)
    assert (untimed.seconds, untimed.source) == (1.5, "wall")


def test_polly_where_installed(tmp_path, cc):
    found = bench_variants.find_polly()
    if found.compiler is None:
        pytest.skip(found.note)
    kernel = write_kernel(tmp_path, "transpose", TRANSPOSE)
    suite = bench_kernels([kernel], settings_for(cc, polly_compiler=found.compiler),
                          tmp_path / "builds")
    variants = suite.kernels[0].variants
    assert list(variants) == ["original", "default", "fixed32", "clang", "polly"]
    assert variants["polly"].ok, variants["polly"].note
    assert "-polly" in variants["polly"].toolchain
    assert suite_to_dict(suite)["polly"]["command"] == list(found.compiler)


def test_plot(tmp_path, cc):
    pytest.importorskip("matplotlib")
    from tiler.bench.report import plot_suite

    kernel = write_kernel(tmp_path, "transpose", TRANSPOSE)
    suite = bench_kernels([kernel], settings_for(cc, repeat=1), tmp_path / "builds")
    plot_suite(suite, str(tmp_path / "speedups.png"))
    assert (tmp_path / "speedups.png").read_bytes().startswith(b"\x89PNG")


def test_an_original_that_does_not_build_stops_only_its_kernel(tmp_path, cc):
    broken = write_kernel(tmp_path / "suite", "broken", MATMUL.replace("int i, j, k;", "int i, j;"))
    fine = write_kernel(tmp_path / "suite", "transpose", TRANSPOSE)
    suite = bench_kernels([broken, fine], settings_for(cc), tmp_path / "builds")
    failed, passed = suite.kernels
    assert failed.variants["original"].status == "build-error" and failed.error
    assert all(variant.status == "skipped" for name, variant in failed.variants.items()
               if name != "original")
    assert passed.variants["default"].ok
    data = suite_to_dict(suite)
    assert data["geomean"]["kernels"]["default"] == 1
    assert "broken original: build-error" in describe_suite(suite)


def test_a_file_the_pass_rejects_is_timed_as_the_original_only(tmp_path, cc):
    text = TRANSPOSE.replace("B[i][j] = B[i][j] + A[j][i];", "B[0][i * j % N] = B[i][j] + A[j][i];")
    kernel = write_kernel(tmp_path, "nonaffine", text)
    settings = settings_for(cc, autotune="exhaustive", exhaustive_sizes=(8,))
    result = bench_kernels([kernel], settings, tmp_path / "builds").kernels[0]
    assert result.variants["original"].ok
    for name in ("default", "fixed32", "autotuned"):
        assert result.variants[name].status == "tile-error", name
    assert "error" in result.variants["default"].note


# A product whose first update fuses with the scaling in the tiled code: under -march=native
# gcc contracts the two differently than in the original (last bits of single elements, which
# a checksum would hide, so every element is printed).
SCALED_PRODUCT = TIMER + """\
#define ROWS 67
#define COLUMNS 45
#define INNER 53
static double left[ROWS][INNER], right[INNER][COLUMNS], product[ROWS][COLUMNS];
void matmul(void)
{
  int i, j, k;
  for (i = 0; i < ROWS; i++)
    for (k = 0; k < INNER; k++)
      left[i][k] = (double) ((i * 7 + k * 3) % 19) / 19.0 - 0.4;
  for (k = 0; k < INNER; k++)
    for (j = 0; j < COLUMNS; j++)
      right[k][j] = (double) ((k * 5 + j * 11) % 23) / 23.0 + 0.1;
#pragma scop
  for (i = 0; i < ROWS; i++)
    for (j = 0; j < COLUMNS; j++) {
      product[i][j] = 0.5 * product[i][j];
      for (k = 0; k < INNER; k++)
        product[i][j] += 1.25 * left[i][k] * right[k][j];
    }
#pragma endscop
}

int main(void)
{
  int i, j;
  struct timespec start, stop;
  clock_gettime(CLOCK_MONOTONIC, &start);
  matmul();
""" + REPORT + """\
  for (i = 0; i < ROWS; i++)
    for (j = 0; j < COLUMNS; j++)
      printf("%.17g\\n", product[i][j]);
  return 0;
}
"""


def _has_fused_multiply_add(cc: tuple[str, ...]) -> bool:
    macros = subprocess.run([*cc, "-march=native", "-dM", "-E", "-"], input="",
                            capture_output=True, text=True, check=False).stdout
    return "__FMA__" in macros


def test_a_difference_from_contraction_alone_is_timed_with_a_note(tmp_path, cc):
    if not _has_fused_multiply_add(cc):
        pytest.skip("this machine has no fused multiply-add for the compiler to contract into")
    kernel = write_kernel(tmp_path, "product", SCALED_PRODUCT)
    # No tolerance, so any difference goes through the check with contraction off.
    settings = settings_for(cc, flags=("-O3", "-march=native"), relative_tolerance=0.0)
    variants = bench_kernels([kernel], settings, tmp_path / "builds").kernels[0].variants
    contracted = [variant for variant in variants.values() if variant.note == CONTRACTION_NOTE]
    if all(variant.ok and variant.max_relative_difference == 0 for variant in variants.values()):
        # (gcc 12 for a Sapphire Rapids core fuses the same multiply-adds in both builds)
        pytest.skip("here the tiled builds contract exactly the multiply-adds the original "
                    "does: no difference to time")
    assert contracted, {name: (v.status, v.max_relative_difference) for name, v in
                        variants.items()}
    for variant in contracted:
        assert variant.ok and len(variant.times_s) == 2
        assert 0 < variant.max_relative_difference <= CONTRACTION_TOLERANCE
    for variant in variants.values():
        assert variant.ok and (variant.note == CONTRACTION_NOTE) == \
            (variant.max_relative_difference > 0)


def test_a_small_difference_that_stays_without_contraction_is_wrong(tmp_path, cc, monkeypatch):
    real = pipeline.tile_source

    def nudged(text, filename, options):   # off by a relative 1e-12: not contraction
        result = real(text, filename, dataclasses.replace(options, register_tiles=False))
        return pipeline.TileResult(re.sub(r"^(#define S0\(.*)$", r"\1 * (1 + 1e-12)",
                                          result.text, count=1, flags=re.MULTILINE),
                                   result.regions)

    monkeypatch.setattr(pipeline, "tile_source", nudged)
    kernel = write_kernel(tmp_path, "matmul", MATMUL)
    settings = settings_for(cc, relative_tolerance=1e-15)
    variants = bench_kernels([kernel], settings, tmp_path / "builds").kernels[0].variants
    assert variants["fixed32"].status == "wrong"
    assert "not explained by floating-point contraction" in variants["fixed32"].note


def test_a_search_whose_candidates_all_differ_says_so(tmp_path, cc, monkeypatch):
    real = pipeline.tile_source

    def miscompiled(text, filename, options):   # every fixed size tiles wrongly
        result = real(text, filename, options)
        if options.tile_sizes is None:
            return result
        # (after the region: the micro-kernel's vector code does not go through S0)
        return pipeline.TileResult(result.text.replace("#pragma endscop",
                                                       "B[1][2] += 1.0;\n#pragma endscop", 1),
                                   result.regions)

    monkeypatch.setattr(pipeline, "tile_source", miscompiled)
    kernel = write_kernel(tmp_path, "matmul", MATMUL)
    settings = settings_for(cc, autotune="exhaustive", exhaustive_sizes=(4, 8))
    result = bench_kernels([kernel], settings, tmp_path / "builds").kernels[0]
    autotuned = result.variants["autotuned"]
    assert autotuned.status == "wrong"
    assert autotuned.note.startswith("all 8 candidates built and ran, but every output differed")
    assert "build err" not in describe_suite(bench_kernels([kernel], settings,
                                                           tmp_path / "again"))


def test_a_failed_search_counts_each_reason():
    from tiler.bench.harness import describe_failed_search
    status, note = describe_failed_search(["wrong", "build-error", "wrong"])
    assert status == "wrong"
    assert note == ("no candidate of the search counts: 2 differed from the original's output, "
                    "1 did not build")


def test_rank_correlation():
    from tiler.bench.modelcheck import ranks, spearman
    assert ranks([3.0, 1.0, 2.0, 1.0]) == [4.0, 1.5, 3.0, 1.5]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 1, 1], [1, 2, 3]) is None


def test_model_check_predicts_every_candidate(tmp_path, cc, capsys):
    """--model-check: each of the tuner's candidates gets the model's predicted time, and the
    report gives the rank correlation with the measured times."""
    kernel = write_kernel(tmp_path, "transpose", TRANSPOSE)
    output = tmp_path / "bench.json"
    args = parse_bench_arguments([str(kernel), "--cc", shlex.join(cc), "--cflags=-O1",
                                  "--repeat", "1", "--autotune", "exhaustive",
                                  "--exhaustive-sizes", "2,8,64", "--cache-sizes", "48K,1M,32M",
                                  "--model-check", "--json", str(output), "--quiet"])
    assert run_bench_command(args) == 0
    assert "model check" in capsys.readouterr().out
    check = json.loads(output.read_text())["kernels"]["transpose"]["model_check"]
    assert len(check["trials"]) == 9
    predicted = [trial["predicted_ns"] for trial in check["trials"]]
    assert all(value is not None and value > 0 for value in predicted)
    assert len(set(predicted)) > 1                 # the sizes move the prediction
    assert -1.0 <= check["spearman"] <= 1.0 and check["candidates"] == 9


def test_model_check_needs_the_tuner(tmp_path, cc):
    kernel = write_kernel(tmp_path, "transpose", TRANSPOSE)
    args = parse_bench_arguments([str(kernel), "--cc", shlex.join(cc), "--autotune", "none",
                                  "--model-check", "--cache-sizes", "48K,1M,32M"])
    with pytest.raises(TilerError, match="needs --autotune"):
        settings_from_arguments(args)
