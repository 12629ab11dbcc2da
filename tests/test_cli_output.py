"""`tiler tile`'s outputs cannot hurt its inputs: -o naming the input (also through a link),
a missing folder, a folder; the mode of what it writes; --in-place; standard input; several
files in one call; --version; and no traceback whatever happens."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tiler.cli import EXIT_BROKEN_PIPE, EXIT_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, main

REPOSITORY = Path(__file__).resolve().parent.parent

KERNEL = """#include <stdio.h>
static double A[40][40], B[40][40];
void kernel(int n) {
  int i, j;
#pragma scop
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++)
      A[i][j] = A[i][j] + B[j][i];
#pragma endscop
}
"""
BAD = "void kernel(int n) {\n  int i;\n#pragma scop\n  for (i = 0; i < n; i++)\n    A[i] = = 1;\n#pragma endscop\n}\n"
BAD_LOCATION = "5:12"
SIZES = ["--tile-sizes", "4"]        # fixed sizes: no cache probe in these tests


def _folder(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """Return a folder with k.c in it and a snapshot of the folder's contents."""
    source = tmp_path / "k.c"
    source.write_text(KERNEL)
    return source, _snapshot(tmp_path)


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Return every entry of ``folder`` (recursively) with the bytes of the files."""
    return {str(path.relative_to(folder)) + ("/" if path.is_dir() else ""):
            (b"" if path.is_dir() or path.is_symlink() else path.read_bytes())
            for path in folder.rglob("*")}


def _expected_text(source: Path, capsys) -> str:
    """Return what `tiler tile` writes for ``source`` (through -o -)."""
    assert main(["tile", str(source), "-o", "-", *SIZES]) == EXIT_OK
    text = capsys.readouterr().out
    assert "c0 += 4" in text
    return text


@pytest.fixture
def umask():
    """Set the process's umask for one test; restore it afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


# ---- -o naming the input ----------------------------------------------------------------------

def _same_file_spellings(tmp_path: Path, source: Path) -> dict[str, str]:
    (tmp_path / "symbolic.c").symlink_to(source.name)
    os.link(source, tmp_path / "hard.c")
    return {"same path": str(source), "relative path": os.path.relpath(source),
            "through a folder link": str(tmp_path / "." / ".." / tmp_path.name / "k.c"),
            "symbolic link": str(tmp_path / "symbolic.c"), "hard link": str(tmp_path / "hard.c")}


def test_output_naming_the_input_is_refused(tmp_path, capsys):
    source, _ = _folder(tmp_path)
    spellings = _same_file_spellings(tmp_path, source)
    before = _snapshot(tmp_path)
    for how, output in spellings.items():
        assert main(["tile", str(source), "-o", output, *SIZES]) == EXIT_USAGE, how
        err = capsys.readouterr().err
        assert f"the output '{output}' is the input file" in err and "--in-place" in err, err
        assert _snapshot(tmp_path) == before, how        # input unchanged, no stray file


def test_in_place_writes_over_the_input_keeping_its_mode(tmp_path, capsys):
    source, _ = _folder(tmp_path)
    expected = _expected_text(source, capsys)
    source.chmod(0o640)
    assert main(["tile", str(source), "--in-place", *SIZES]) == EXIT_OK
    assert source.read_text() == expected
    assert stat.S_IMODE(source.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.c"]


def test_in_place_with_output_naming_the_input(tmp_path, capsys):
    source, _ = _folder(tmp_path)
    expected = _expected_text(source, capsys)
    assert main(["tile", str(source), "-o", str(source), "--in-place", *SIZES]) == EXIT_OK
    assert source.read_text() == expected


def test_in_place_through_a_symbolic_link_updates_the_file_it_names(tmp_path, capsys):
    source, _ = _folder(tmp_path)
    expected = _expected_text(source, capsys)
    link = tmp_path / "link.c"
    link.symlink_to(source.name)
    assert main(["tile", str(link), "--in-place", *SIZES]) == EXIT_OK
    assert link.is_symlink() and source.read_text() == expected


def test_in_place_with_another_output_is_a_usage_error(tmp_path, capsys):
    source, before = _folder(tmp_path)
    for output in (str(tmp_path / "other.c"), "-"):
        assert main(["tile", str(source), "--in-place", "-o", output, *SIZES]) == EXIT_USAGE
        assert "--in-place" in capsys.readouterr().err
        assert _snapshot(tmp_path) == before


# ---- outputs that cannot be written -----------------------------------------------------------

@pytest.mark.parametrize("where", ["missing folder", "missing folders", "empty folder",
                                   "folder with a file"])
def test_output_that_cannot_be_written_is_a_located_error(tmp_path, capsys, where):
    source, _ = _folder(tmp_path)
    folder = tmp_path / "out"
    if where == "missing folder":
        output, message = folder / "k.c", f"there is no folder '{folder}'"
    elif where == "missing folders":
        output, message = folder / "deeper" / "k.c", f"there is no folder '{folder / 'deeper'}'"
    else:
        folder.mkdir()
        if where == "folder with a file":
            (folder / "kept.c").write_text("int kept;\n")
        output, message = folder, "it is a folder"
    before = _snapshot(tmp_path)
    assert main(["tile", str(source), "-o", str(output), *SIZES]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err == f"{output}: error: cannot write the output: {message}\n", err
    assert _snapshot(tmp_path) == before                 # nothing written, nothing created


# ---- modes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_output_gets_the_mode_of_a_plain_open(tmp_path, capsys, umask, mask, mode):
    source, _ = _folder(tmp_path)
    umask(mask)
    assert main(["tile", str(source), *SIZES]) == EXIT_OK
    output = tmp_path / "k.tiled.c"
    assert stat.S_IMODE(output.stat().st_mode) == mode
    plain = tmp_path / "plain"
    with open(plain, "w"):
        pass
    assert stat.S_IMODE(plain.stat().st_mode) == mode


def test_replaced_output_keeps_its_mode(tmp_path, capsys, umask):
    # As open(path, "w") on an existing file does.
    source, _ = _folder(tmp_path)
    output = tmp_path / "k.tiled.c"
    output.write_text("old\n")
    output.chmod(0o604)
    umask(0o077)
    assert main(["tile", str(source), *SIZES]) == EXIT_OK
    assert output.read_text() != "old\n"
    assert stat.S_IMODE(output.stat().st_mode) == 0o604


# ---- several inputs -------------------------------------------------------------------------

def test_several_inputs_each_written_beside_itself(tmp_path, capsys):
    first = tmp_path / "a.c"
    second = tmp_path / "b.c"
    first.write_text(KERNEL)
    second.write_text(KERNEL.replace("A[i][j] + B[j][i]", "A[i][j] * B[i][j]"))
    expected = [_expected_text(first, capsys), _expected_text(second, capsys)]
    assert main(["tile", str(first), str(second), *SIZES]) == EXIT_OK
    assert [(tmp_path / "a.tiled.c").read_text(), (tmp_path / "b.tiled.c").read_text()] \
        == expected
    assert expected[0] != expected[1]


def test_a_bad_file_among_several(tmp_path, capsys):
    good, bad, missing = tmp_path / "good.c", tmp_path / "bad.c", tmp_path / "missing.c"
    good.write_text(KERNEL)
    bad.write_text(BAD)
    expected = _expected_text(good, capsys)
    assert main(["tile", str(bad), str(missing), str(good), *SIZES]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert f"{bad}:{BAD_LOCATION}: error: syntax error" in err, err
    assert f"{missing}: error: cannot read" in err, err
    assert (tmp_path / "good.tiled.c").read_text() == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.c", "good.c", "good.tiled.c"]


@pytest.mark.parametrize("inputs, output, message", [
    (["a.c", "b.c"], "-o", "-o names the output of a single input file"),
    (["a.c", "b.c"], "-", "-o names the output of a single input file"),
    (["a.c", "-"], None, "standard input ('-') must be the only input file"),
    (["a.c", "a.tiled.c"], None, "the output 'TMP/a.tiled.c' is the input file"),
])
def test_several_inputs_usage_errors(tmp_path, capsys, inputs, output, message):
    for name in ("a.c", "b.c", "a.tiled.c"):
        (tmp_path / name).write_text(KERNEL)
    before = _snapshot(tmp_path)
    arguments = ["tile", *(name if name == "-" else str(tmp_path / name) for name in inputs)]
    if output == "-o":
        arguments += ["-o", str(tmp_path / "out.c")]
    elif output == "-":
        arguments += ["-o", "-"]
    assert main([*arguments, *SIZES]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message.replace("TMP", str(tmp_path)) in err, err
    assert _snapshot(tmp_path) == before


# ---- standard input, --version, the console -------------------------------------------------

def _run_tiler(arguments: list[str], cwd: Path, text: str | None = None
               ) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    return subprocess.run([sys.executable, "-m", "tiler.cli", *arguments], input=text,
                          capture_output=True, text=True, cwd=cwd, env=environment,
                          check=False)


def test_standard_input_goes_to_standard_output(tmp_path, capsys):
    source, _ = _folder(tmp_path)
    expected = _expected_text(source, capsys)
    work = tmp_path / "work"
    work.mkdir()
    done = _run_tiler(["tile", "-", *SIZES], work, KERNEL)
    assert (done.returncode, done.stdout, done.stderr) == (EXIT_OK, expected, "")
    assert list(work.iterdir()) == []
    done = _run_tiler(["tile", "-", "-o", "out.c", *SIZES], work, KERNEL)
    assert done.returncode == EXIT_OK and (work / "out.c").read_text() == expected


def test_standard_output_keeps_bytes_that_are_not_utf8(tmp_path):
    text = "/* caf\xe9, latin-1 */\n".encode("latin-1") + KERNEL.encode()
    environment = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    for arguments, given in ((["-"], text), ([str(tmp_path / "k.c"), "-o", "-"], None)):
        (tmp_path / "k.c").write_bytes(text)
        done = subprocess.run([sys.executable, "-m", "tiler.cli", "tile", *arguments, *SIZES],
                              input=given, capture_output=True, env=environment, check=False)
        assert done.returncode == EXIT_OK, done.stderr
        assert done.stdout.startswith("/* caf\xe9, latin-1 */\n".encode("latin-1"))
        assert b"c0 += 4" in done.stdout


def test_bad_standard_input_names_stdin(tmp_path):
    done = _run_tiler(["tile", "-", *SIZES], tmp_path, BAD)
    assert done.returncode == EXIT_INPUT and done.stdout == ""
    assert done.stderr.startswith(f"<stdin>:{BAD_LOCATION}: error: syntax error"), done.stderr
    done = _run_tiler(["tile", "-", "--in-place", *SIZES], tmp_path, KERNEL)
    assert done.returncode == EXIT_USAGE and "standard input" in done.stderr


def _pyproject_version() -> str:
    text = (REPOSITORY / "pyproject.toml").read_text()
    return re.search(r'^version = "([^"]+)"', text, re.MULTILINE).group(1)


def test_version(tmp_path):
    done = _run_tiler(["--version"], tmp_path)
    assert (done.returncode, done.stdout) == (EXIT_OK, f"tiler {_pyproject_version()}\n")


def test_version_without_package_metadata(monkeypatch, capsys):
    # A source tree used without installing it: the version comes from pyproject.toml.
    from importlib import metadata

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)
    monkeypatch.setattr(metadata, "version", not_installed)
    assert main(["--version"]) == EXIT_OK
    assert capsys.readouterr().out == f"tiler {_pyproject_version()}\n"


def test_internal_error_is_a_message_not_a_traceback(tmp_path, capsys, monkeypatch):
    source, before = _folder(tmp_path)

    def broken(*arguments, **keywords):
        raise RuntimeError("planted failure")
    monkeypatch.setattr("tiler.pipeline.tile_source", broken)
    assert main(["tile", str(source), *SIZES]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "tiler: internal error: RuntimeError: planted failure" in err
    assert "Traceback" not in err and "bug in tiler" in err
    assert _snapshot(tmp_path) == before


def test_closed_standard_output_is_not_a_traceback(tmp_path):
    # More text than a pipe holds, to a reader that went away.
    source = tmp_path / "big.c"
    source.write_text("/*" + "x" * (1 << 20) + "*/\n" + KERNEL)
    environment = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    process = subprocess.Popen([sys.executable, "-m", "tiler.cli", "tile", str(source), "-o",
                                "-", *SIZES], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=environment)
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait() == EXIT_BROKEN_PIPE and "Traceback" not in err, err

