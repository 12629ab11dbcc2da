"""``tiler cc`` inside real builds: every test builds and runs programs through the launcher and
compares them, bit for bit, with a plain build of the same sources.

The launcher is the installed ``tiler`` entry point when it runs this tree (CI installs it),
else a wrapper script running ``python3 -m tiler.cli cc`` from this tree. Tiler's options go in
``TILER_FLAGS``; ``--cache-sizes`` keeps the probe from running.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tiler.launcher.command_line import Compilation, PassThrough, classify, split_compiler

REPOSITORY = Path(__file__).resolve().parent.parent
PROJECT = REPOSITORY / "tests" / "launcher" / "project"
POLYBENCH = REPOSITORY / "tests" / "launcher" / "polybench"
# Small sizes, so the tiles really reorder the test programs' loops (the model's sizes for
# these caches exceed the trip counts); the cache sizes keep the probe from running.
TILER_FLAGS = "--tile-sizes 8,4,16 --cache-sizes 48K,1M,32M --report"
EXACT = ("-O2", "-ffp-contract=off")
TILED_SOURCES = ("src/matmul.c", "src/smooth.c")


def _runs_this_tree(script: str) -> bool:
    """Whether the installed ``tiler`` script imports the package of this tree."""
    try:
        first_line = Path(script).read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return False
    if not first_line.startswith("#!"):
        return False
    probe = subprocess.run([*shlex.split(first_line[2:]), "-c",
                            "import tiler; print(tiler.__file__)"], capture_output=True,
                           text=True, check=False, cwd="/")
    return probe.returncode == 0 and \
        Path(probe.stdout.strip()).resolve() == REPOSITORY / "tiler" / "__init__.py"


@pytest.fixture(scope="module")
def launcher(tmp_path_factory) -> list[str]:
    """The launcher command: ``tiler cc`` if that is this tree, else a wrapper script."""
    installed = shutil.which("tiler")
    if installed and _runs_this_tree(installed):
        return [installed, "cc"]
    wrapper = tmp_path_factory.mktemp("bin") / "tiler-cc"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={shlex.quote(str(REPOSITORY))}'
                       f'${{PYTHONPATH:+:$PYTHONPATH}} exec {shlex.quote(sys.executable)} '
                       f'-m tiler.cli cc "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return [str(wrapper)]


@pytest.fixture
def environment(tmp_path) -> dict[str, str]:
    """The environment of a build: tiler's options and a cache of its own."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    return {**os.environ, "TILER_FLAGS": TILER_FLAGS,
            "TILER_CACHE_DIR": str(tmp_path / "cache"), "TMPDIR": str(temporary)}


def _run(command: list[str], cwd: Path, environment: dict[str, str],
         check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True,
                            check=False, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{shlex.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def _statistics(launcher: list[str], environment: dict[str, str]) -> dict[str, int]:
    output = _run([*launcher, "--cache-stats"], Path.cwd(), environment).stdout
    return {name: int(count) for name, count in (line.split() for line in output.splitlines())}


def _copy_project(destination: Path) -> Path:
    shutil.copytree(PROJECT, destination, ignore=shutil.ignore_patterns("build*"))
    return destination


def _program_output(binary: Path) -> str:
    result = subprocess.run([str(binary)], capture_output=True, text=True, check=True,
                            timeout=120)
    return result.stdout


def _plain_build(cc, tmp_path: Path) -> str:
    """Return the output of the project built and run without the launcher."""
    plain = _copy_project(tmp_path / "plain")
    _run(["make", "-s", f"CC={shlex.join(cc)}", f"CFLAGS={' '.join(EXACT)}"], plain,
         dict(os.environ))
    return _program_output(plain / "program")


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_project_tiled_cached_and_dependencies_kept(cc, launcher, environment, tmp_path):
    expected = _plain_build(cc, tmp_path)
    tiled = _copy_project(tmp_path / "tiled")
    make = ["make", f"CC={shlex.join([*launcher, *cc])}", f"CFLAGS={' '.join(EXACT)}"]
    first = _run(make, tiled, environment)
    assert _program_output(tiled / "program") == expected
    for source in TILED_SOURCES:
        assert f"{source}:" in first.stderr and "remark: tiler: tiled 1 band(s) [8x" in first.stderr
    # The region of main.c has a non-affine subscript: a note, and the file compiled as written.
    assert "src/main.c:12:13: note: tiler: non-affine subscript" in first.stderr
    assert _statistics(launcher, environment) == {"hits": 0, "misses": 3}
    # The dependency files name the user's sources, so make's tracking stays right.
    dependencies = (tiled / "matmul.d").read_text()
    rules = dependencies.replace("\\\n", " ").splitlines()
    assert rules[0].split() == ["matmul.o:", "src/matmul.c", "include/arrays.h", "src/sizes.h"]
    assert "tiler-cc-" not in dependencies
    assert _run([*make, "-q"], tiled, environment, check=False).returncode == 0
    os.utime(tiled / "src" / "sizes.h")
    assert _run([*make, "-q"], tiled, environment, check=False).returncode == 1
    # A rebuild of unchanged sources takes every tiled text from the cache.
    _run(["make", "clean"], tiled, environment)
    _run(make, tiled, environment)
    assert _statistics(launcher, environment) == {"hits": 3, "misses": 3}
    assert _program_output(tiled / "program") == expected
    assert not list(Path(environment["TMPDIR"]).glob("tiler-cc-*"))  # none left behind


@pytest.mark.skipif(shutil.which("cmake") is None, reason="CMake is not installed "
                    "(.ci/run installs it from Debian)")
def test_cmake_project_with_compiler_launcher(cc, launcher, environment, tmp_path):
    expected = _plain_build(cc, tmp_path)
    build = tmp_path / "cmake-build"
    _run(["cmake", "-S", str(PROJECT), "-B", str(build), f"-DCMAKE_C_COMPILER={cc[0]}",
          f"-DCMAKE_C_FLAGS={' '.join(EXACT)}",
          f"-DCMAKE_C_COMPILER_LAUNCHER={';'.join(launcher)}",
          "-DCMAKE_BUILD_TYPE="], tmp_path, environment)
    built = _run(["cmake", "--build", str(build)], tmp_path, environment)
    assert _program_output(build / "program") == expected
    assert "matmul.c:15:1: remark: tiler: tiled" in built.stdout + built.stderr
    assert _statistics(launcher, environment)["misses"] == 3


@pytest.mark.parametrize("defines", [("-DSIZE_N=37", "-DSIZE_M=19"),
                                     ("-DSIZE_N=64", "-DSIZE_M=50", "-DELEMENT=float")])
def test_polybench_style_kernel_with_size_flags(cc, launcher, environment, tmp_path, defines):
    sources = [str(POLYBENCH / "kernel.c"), str(POLYBENCH / "harness.c")]
    flags = [*EXACT, *defines, f"-I{POLYBENCH}"]
    _run([*cc, *flags, *sources, "-o", "plain"], tmp_path, environment)
    tiled = _run([*launcher, *cc, *flags, *sources, "-o", "tiled"], tmp_path, environment)
    assert "kernel.c:22:1: remark: tiler: tiled " in tiled.stderr
    assert _program_output(tmp_path / "tiled") == _program_output(tmp_path / "plain")


def _diagnostics(stderr: str, name: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"{name}:")
            and (": error:" in line or ": warning:" in line)]


def _with_lines_after_the_region(directory: Path, added: list[str]) -> tuple[Path, int]:
    """Write the project's matmul.c with ``added`` lines after its region; return the file
    and the line number of the first added line."""
    lines = (PROJECT / "src" / "matmul.c").read_text().splitlines()
    after_region = lines.index("#pragma endscop") + 1
    lines[after_region:after_region] = added
    path = directory / "edited.c"
    path.write_text("\n".join(lines) + "\n")
    return path, after_region + 1


def _quoted(text: str) -> str:
    return text.replace("\u2018", "'").replace("\u2019", "'")


def test_diagnostics_point_at_the_users_lines(cc, launcher, environment, tmp_path):
    # Below the region the tiled text has many more lines: the #line markers keep a warning
    # there on the user's line.
    _, line = _with_lines_after_the_region(tmp_path, ["  int unused_after_region;"])
    flags = [*EXACT, "-Wall", f"-I{PROJECT / 'include'}", f"-iquote{PROJECT / 'src'}", "-c",
             "edited.c"]
    plain = _run([*cc, *flags, "-o", "plain.o"], tmp_path, environment)
    tiled = _run([*launcher, *cc, *flags, "-o", "tiled.o"], tmp_path, environment)
    assert "edited.c:15:1: remark: tiler: tiled" in tiled.stderr
    expected = _diagnostics(plain.stderr, "edited.c")
    assert f"edited.c:{line}:7: warning: unused variable 'unused_after_region'" in \
        _quoted("\n".join(expected))
    assert _diagnostics(tiled.stderr, "edited.c") == expected
    assert (tmp_path / "plain.o").read_bytes() != (tmp_path / "tiled.o").read_bytes()


@pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf (binutils) is missing")
def test_debug_information_names_the_users_source(cc, launcher, environment, tmp_path):
    flags = [*EXACT, "-g", f"-I{PROJECT / 'include'}", "-c", str(PROJECT / "src" / "matmul.c")]
    _run([*cc, *flags, "-o", "plain.o"], tmp_path, environment)
    tiled = _run([*launcher, *cc, *flags, "-o", "tiled.o"], tmp_path, environment)
    assert "remark: tiler: tiled" in tiled.stderr

    def debug_dump(name: str) -> str:
        return _run(["readelf", "--debug-dump=info,decodedline", name], tmp_path,
                    environment).stdout

    plain_dump, tiled_dump = debug_dump("plain.o"), debug_dump("tiled.o")
    assert "tiler-cc-" not in tiled_dump
    names = [line.split(":", 1)[-1].strip() for line in tiled_dump.splitlines()
             if "DW_AT_name" in line][:1]
    assert names and names == [line.split(":", 1)[-1].strip() for line in
                               plain_dump.splitlines() if "DW_AT_name" in line][:1]
    assert str(PROJECT / "src" / "matmul.c") in names[0]


def test_compile_error_points_at_the_users_line(cc, launcher, environment, tmp_path):
    _, line = _with_lines_after_the_region(tmp_path, ["  undeclared_name = 1;"])
    flags = [*EXACT, "-Wall", f"-I{PROJECT / 'include'}", f"-iquote{PROJECT / 'src'}", "-c",
             "edited.c"]
    plain = _run([*cc, *flags, "-o", "plain.o"], tmp_path, environment, check=False)
    tiled = _run([*launcher, *cc, *flags, "-o", "tiled.o"], tmp_path, environment, check=False)
    assert plain.returncode != 0 and tiled.returncode != 0
    assert "edited.c:15:1: remark: tiler: tiled" in tiled.stderr
    expected = _diagnostics(plain.stderr, "edited.c")
    assert f"edited.c:{line}:3: error: 'undeclared_name' undeclared" in \
        _quoted("\n".join(expected))
    assert _diagnostics(tiled.stderr, "edited.c") == expected
    assert not (tmp_path / "tiled.o").exists()
    # With --tiler-strict the tiled text's own diagnostics are shown: on the same lines.
    strict = _run([*launcher, *cc, "--tiler-strict", *flags, "-o", "tiled.o"], tmp_path,
                  environment, check=False)
    assert strict.returncode != 0 and _diagnostics(strict.stderr, "edited.c") == expected


def test_a_tiled_text_that_does_not_compile_is_compiled_as_written(cc, tmp_path, monkeypatch,
                                                                  capfd):
    from tiler import pipeline
    from tiler.launcher import driver, run_cc
    real = pipeline.tile_source

    def broken(text, filename, options):
        result = real(text, filename, options)
        return pipeline.TileResult(result.text.replace("#pragma endscop", "}}\n#pragma endscop"),
                                   result.regions)

    monkeypatch.setattr(pipeline, "tile_source", broken)
    monkeypatch.setattr(driver, "_exec", lambda command: pytest.fail(f"exec of {command}"))
    monkeypatch.setenv("TILER_FLAGS", TILER_FLAGS)
    monkeypatch.setenv("TILER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    flags = [*EXACT, f"-I{PROJECT / 'include'}", "-c", str(PROJECT / "src" / "matmul.c")]
    assert run_cc([*cc, *flags, "-o", "launched.o"]) == 0
    assert "matmul.c:1:1: note: tiler: the tiled text did not compile; compiled as written" \
        in capfd.readouterr().err
    subprocess.run([*cc, *flags, "-o", "plain.o"], check=True)
    assert (tmp_path / "launched.o").read_bytes() == (tmp_path / "plain.o").read_bytes()
    assert run_cc([*cc, "--tiler-strict", *flags, "-o", "strict.o"]) != 0
    assert "error:" in capfd.readouterr().err and not (tmp_path / "strict.o").exists()


def test_region_tiler_cannot_handle_is_a_note_or_with_strict_an_error(cc, launcher, environment,
                                                                      tmp_path):
    flags = [*EXACT, f"-I{PROJECT / 'include'}", "-c", str(PROJECT / "src" / "main.c")]
    built = _run([*launcher, *cc, *flags, "-o", "main.o"], tmp_path, environment)
    assert "main.c:12:13: note: tiler: non-affine subscript 'i * i'" in built.stderr
    _run([*cc, *flags, "-o", "plain.o"], tmp_path, environment)
    assert (tmp_path / "main.o").read_bytes() == (tmp_path / "plain.o").read_bytes()
    strict = _run([*launcher, *cc, "--tiler-strict", *flags, "-o", "strict.o"], tmp_path,
                  environment, check=False)
    assert strict.returncode == 1
    assert "main.c:12:13: error: tiler: non-affine subscript" in strict.stderr
    assert not (tmp_path / "strict.o").exists()


def test_a_header_that_the_moved_source_would_find_elsewhere_keeps_it_as_written(
        cc, launcher, environment, tmp_path):
    # inc/choice.h includes "value.h": in the plain build from lib/ (-I order); from the
    # source's directory once that is an -iquote directory. The launcher must see it.
    for path, text in {"src/main.c": _REGION_PROGRAM, "inc/choice.h": '#include "value.h"\n',
                       "src/value.h": "#define VALUE 1\n", "lib/value.h": "#define VALUE 2\n"
                       }.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    flags = [*EXACT, "-Iinc", "-Ilib", "src/main.c"]
    built = _run([*launcher, *cc, *flags, "-o", "launched"], tmp_path, environment)
    assert "src/main.c:1:1: note: tiler: a header would be found in another directory" \
        in built.stderr
    assert _program_output(tmp_path / "launched").startswith("value 2\n")
    _run([*cc, *flags, "-o", "plain"], tmp_path, environment)
    assert _program_output(tmp_path / "launched") == _program_output(tmp_path / "plain")


_REGION_PROGRAM = """\
#include <stdio.h>
#include "choice.h"
static double a[40][40];
int main(void)
{
  int i, j;
#pragma scop
  for (i = 1; i < 40; i++)
    for (j = 1; j < 40; j++)
      a[i][j] = a[i - 1][j] + a[i][j - 1] + VALUE;
#pragma endscop
  printf("value %d\\n%a\\n", VALUE, a[39][39]);
  return 0;
}
"""


def test_openmp_compile_gets_parallel_loops(cc, launcher, environment, tmp_path):
    flags = [*EXACT, "-fopenmp", f"-I{PROJECT / 'include'}"]
    sources = [str(PROJECT / "src" / name)
               for name in ("main.c", "print.c", "matmul.c", "smooth.c")]
    _run([*cc, *flags, *sources, "-o", "plain"], tmp_path, environment)
    _run([*launcher, *cc, *flags, *sources, "-o", "tiled"], tmp_path, environment)
    entries = [path.read_text() for path in (tmp_path / "cache").rglob("*.json")]
    assert any("#pragma omp parallel for" in entry for entry in entries)
    threads = {**os.environ, "OMP_NUM_THREADS": "2"}
    outputs = [subprocess.run([str(tmp_path / name)], capture_output=True, text=True,
                              check=True, env=threads, timeout=120).stdout
               for name in ("plain", "tiled")]
    assert outputs[0] == outputs[1]


@pytest.fixture
def recording_compiler(tmp_path) -> tuple[Path, Path]:
    """A stand-in compiler that writes its arguments, one per line, to a file."""
    log = tmp_path / "arguments.log"
    script = tmp_path / "recording-cc"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {shlex.quote(str(log))}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


@pytest.mark.parametrize("arguments", [
    ["-E", "src/matmul.c", "-Iinclude"],
    ["-O2", "-o", "program", "main.o", "matmul.o", "-lm"],
    ["-M", "-Iinclude", "src/matmul.c"],
    ["-MM", "-MF", "deps.d", "-Iinclude", "src/matmul.c"],
    ["-c", "start.s", "-o", "start.o"],
    ["@response-file"],
    ["--version"],
    ["-O2", "-Iinclude", "-c", "src/print.c", "-o", "print.o"],
], ids=["preprocess", "link", "M", "MM", "assembler", "response-file", "version",
        "compile-without-region"])
def test_commands_passed_through_untouched(launcher, environment, recording_compiler, arguments):
    compiler, log = recording_compiler
    _run([*launcher, str(compiler), *arguments], PROJECT, environment)
    assert log.read_text().splitlines() == arguments
    assert _statistics(launcher, environment) == {"hits": 0, "misses": 0}


def test_a_wrapper_takes_its_compiler_along():
    assert split_compiler(["ccache", "gcc", "-c", "a.c"], {}) == (["ccache", "gcc"],
                                                                 ["-c", "a.c"])
    assert split_compiler(["-c", "a.c"], {"CC": "ccache gcc"}) == (["ccache", "gcc"],
                                                                  ["-c", "a.c"])
    assert split_compiler(["-c", "a.c"], {}) == (["cc"], ["-c", "a.c"])
    assert split_compiler(["gcc-12", "a.c"], {"CC": "clang"}) == (["gcc-12"], ["a.c"])


def test_preprocessing_output_equals_the_compilers(cc, launcher, environment):
    command = ["-E", "-Iinclude", "-DROWS=5", "src/matmul.c"]
    plain = _run([*cc, *command], PROJECT, environment)
    through = _run([*launcher, *cc, *command], PROJECT, environment)
    assert through.stdout == plain.stdout and "#pragma scop" in plain.stdout


@pytest.mark.parametrize("arguments, sources, links, dependency_files", [
    ("-O2 -c src/a.c -o obj/a.o -MMD -MP", ["src/a.c"], False, ["obj/a.d"]),
    ("-c a.c b.c -MD", ["a.c", "b.c"], False, ["a.d", "b.d"]),
    ("-MD -MT x -MF deps/x.d -c x.c -o x.o", ["x.c"], False, ["deps/x.d"]),
    ("-Wp,-MD,.x.o.d -c x.c -o x.o", ["x.c"], False, [".x.o.d"]),
    ("-O2 -DN=3 a.c b.s -o program -lm", ["a.c"], True, []),
    ("-S -x c kernel.inc -MT kernel.c", ["kernel.inc"], False, []),
    ("-c -x c++ a.c -x none b.c", ["b.c"], False, []),
])
def test_classify_compiles(arguments, sources, links, dependency_files):
    plan = classify(arguments.split())
    assert isinstance(plan, Compilation)
    assert [source.path for source in plan.sources] == sources
    assert plan.links == links and list(plan.dependency_files) == dependency_files


def test_preprocessing_arguments_keep_the_preprocessor_flags_only():
    command = "-O2 -fopenmp -Iinc -DN=4 -include pre.h -MMD -MF a.d -c a.c -o a.o -lm"
    plan = classify(command.split())
    assert isinstance(plan, Compilation) and plan.openmp
    assert plan.preprocessing_arguments(plan.sources[0]) == (
        "-O2", "-fopenmp", "-Iinc", "-DN=4", "-include", "pre.h", "-E", "a.c")


@pytest.mark.parametrize("arguments", ["-E a.c", "a.o b.o -o p", "-c x.S", "-fsyntax-only a.c",
                                       "-c - -x c", "-MD a.c -o program"])
def test_classify_passes_through(arguments):
    assert isinstance(classify(arguments.split()), PassThrough)


def test_a_macro_from_a_header_given_by_the_compile_flags_is_seen(cc, launcher, environment,
                                                                   tmp_path):
    """The launcher preprocesses with the compile's own -I and -D: a macro from a header that
    writes and reads the array (a dependence the text alone hides) keeps the program right."""
    headers = tmp_path / "inc"
    headers.mkdir()
    (headers / "grid.h").write_text("#define CUR P[i][j]\n#define UP P[i - 1][j + STEP]\n")
    source = tmp_path / "diag.c"
    source.write_text("""#include <stdio.h>
#include "grid.h"
static double P[70][70];
int main(void)
{
  int i, j;
  for (i = 0; i < 70; i++)
    for (j = 0; j < 70; j++)
      P[i][j] = (i * 5 + j) % 9;
#pragma scop
  for (i = 1; i < 70; i++)
    for (j = 0; j < 69; j++)
      CUR = UP * 0.5 + 1.0;
#pragma endscop
  for (i = 0; i < 70; i++)
    for (j = 0; j < 70; j++)
      printf("%a\\n", P[i][j]);
  return 0;
}
""")
    flags = [*EXACT, f"-I{headers}", "-DSTEP=1"]
    _run([*cc, *flags, str(source), "-o", "plain"], tmp_path, environment)
    tiled = _run([*launcher, *cc, *flags, str(source), "-o", "tiled"], tmp_path, environment)
    assert "diag.c:10:1: remark: tiler: tiled" in tiled.stderr
    assert _program_output(tmp_path / "tiled") == _program_output(tmp_path / "plain")
