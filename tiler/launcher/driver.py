"""``tiler cc``: tile the C sources of a compile on their way to the compiler.

Each C source is preprocessed with the compile's flags (the cache key), tiled (or taken from
the cache), written under its own name into a private temporary directory, and compiled there
with the user's command line: only the source's path changes, and ``-iquote`` gives its
``#include "..."`` the source's directory back. ``#line`` markers keep the compiler's
diagnostics and debug information on the user's file and lines; dependency files are
rewritten to name the user's source. Whatever tiler cannot do leaves the source as it is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tiler.errors import TilerError
from tiler.launcher import cache
from tiler.launcher.cache import Remark, TiledSource
from tiler.launcher.command_line import Compilation, PassThrough, Source, classify, split_compiler
from tiler.launcher.options import (
    FLAGS_VARIABLE,
    STRICT_FLAG,
    FlagsError,
    LauncherSettings,
    options_fingerprint,
    parse_tiler_flags,
    resolved_hierarchy,
    tile_options_for_compile,
)

EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2
UNTILED, TILED = "untiled", "tiled"


def _exec(command: list[str]) -> int:
    """Replace this process by ``command`` (what a pass-through is); return 1 if it cannot run."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(command[0], command)
    except OSError as error:
        print(f"tiler cc: error: cannot run '{command[0]}': {error.strerror}", file=sys.stderr)
    return EXIT_INPUT


def _exec_after_removing(directory: str, command: list[str]) -> int:
    """``_exec(command)`` once ``directory`` is gone (an exec skips every cleanup)."""
    shutil.rmtree(directory, ignore_errors=True)
    return _exec(command)


def _preprocess(compiler: list[str], arguments: tuple[str, ...]
                ) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*compiler, *arguments], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)


def _quote_arguments(directories: list[str]) -> list[str]:
    return [word for directory in directories for word in ("-iquote", directory)]


def _preprocessed_texts(compiler: list[str], plan: Compilation, directories: list[str]
                        ) -> list[bytes] | None | str:
    """Return each source's text after preprocessing (None: the compiler rejects one, and
    will say why when it compiles). A string says why no source may move: with the
    ``-iquote`` of their ``directories`` some header would be found elsewhere."""
    quote = tuple(_quote_arguments(directories))
    try:
        runs = [(_preprocess(compiler, plan.preprocessing_arguments(source)),
                 _preprocess(compiler, quote + plan.preprocessing_arguments(source)))
                for source in plan.sources]
    except OSError:
        return None                  # the compiler does not run; running it will say so
    texts: list[bytes] = []
    failed = moved = False
    for plain, quoted in runs:
        plain_text, quoted_text = plain.communicate()[0], quoted.communicate()[0]
        failed = failed or plain.returncode != 0
        moved = moved or plain_text != quoted_text
        texts.append(plain_text)
    if failed:
        return None
    if moved:
        return ("a header would be found in another directory when the tiled text is "
                "compiled from a temporary one; compiled as written")
    return texts


def _tile(text: str, path: str, options) -> tuple[TiledSource, bool]:
    """Return the outcome of tiling ``text`` and whether it may be cached (an internal error
    is not: the next version may not have it)."""
    from tiler.pipeline import tile_source
    try:
        result = tile_source(text, path, options)
    except TilerError as error:
        return TiledSource(None, (Remark(error.line or 1, error.column or 1, UNTILED,
                                         f"{error.message}; compiled as written"),)), True
    except Exception as error:  # noqa: BLE001 - a bug in tiler must never fail a build
        return TiledSource(None, (Remark(1, 1, UNTILED, f"internal error ({type(error).__name__}"
                                         f": {error}); compiled as written"),)), False
    remarks = tuple(Remark(region.line, 1, TILED if region.tiled else UNTILED, region.note)
                    for region in result.regions)
    return TiledSource(result.text if result.text != text else None, remarks), True


def _read_text(path: str) -> str:
    """Return a file's text (bytes that are not UTF-8 kept as they are, as tiler reads C)."""
    return Path(path).read_bytes().decode("utf-8", errors="surrogateescape")


def _write_text(path: str, text: str) -> None:
    """Write ``text`` through a temporary file and a rename (a reader never sees half)."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(text.encode("utf-8", errors="surrogateescape"))
        if target.exists():
            os.chmod(temporary, target.stat().st_mode & 0o7777)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _may_have_region(path: str) -> bool:
    """Whether the file at ``path`` mentions ``scop`` at all (the regions are found in the
    source's own text; a file without the word needs no preprocessing, tiling or cache)."""
    try:
        return b"scop" in Path(path).read_bytes()
    except OSError:
        return False          # the compiler will say that it cannot read it


def _tiled_source(compiler: list[str], plan: Compilation, source: Source, preprocessed: bytes,
                  settings: LauncherSettings) -> TiledSource:
    """Return the tiled text of ``source`` (from the cache when it has been tiled before;
    only a miss loads the pass)."""
    from tiler import __version__
    text = _read_text(source.path)
    hierarchy = resolved_hierarchy(settings)
    key = cache.cache_key(__version__, source.path, text,
                          preprocessed.decode("utf-8", errors="surrogateescape"),
                          options_fingerprint(settings, plan.openmp, hierarchy))
    entry = cache.lookup(key)
    if entry is None:
        options = tile_options_for_compile(compiler, plan.preprocessing_arguments(source),
                                           plan.openmp, settings, hierarchy)
        entry, cacheable = _tile(text, source.path, options)
        if cacheable:
            cache.store(key, entry)
    return entry


def _print_remarks(path: str, entry: TiledSource, settings: LauncherSettings) -> bool:
    """Print the diagnostics of one source; return whether one of them is an error."""
    failed = False
    for remark in entry.remarks:
        if remark.kind == TILED and not settings.report:
            continue
        kind = "remark" if remark.kind == TILED else "error" if settings.strict else "note"
        failed = failed or kind == "error"
        print(f"{path}:{remark.line}:{remark.column}: {kind}: tiler: {remark.message}",
              file=sys.stderr)
    return failed


def _make_escaped(path: str) -> str:
    """Return ``path`` as GCC writes it in a dependency file."""
    return path.replace("$", "$$").replace("#", "\\#").replace(" ", "\\ ")


def _rename_in_dependency_files(files: tuple[str, ...], names: dict[str, str]) -> None:
    """Make the dependency ``files`` name the user's sources instead of the tiled copies."""
    for file in files:
        if not Path(file).exists():
            continue
        text = _read_text(file)
        for temporary, original in names.items():
            text = text.replace(_make_escaped(temporary), _make_escaped(original))
        _write_text(file, text)


def _write_tiled(directory: Path, source: Source, text: str) -> str:
    """Write the tiled ``text`` of ``source`` under its own name; return the path."""
    directory.mkdir()
    path = directory / Path(source.path).name
    name = source.path.replace("\\", "\\\\").replace('"', '\\"')
    path.write_bytes(f'#line 1 "{name}"\n{text}'.encode("utf-8", errors="surrogateescape"))
    return str(path)


def _debug_names(plan: Compilation, moved: dict[int, str]) -> list[str]:
    """Return the flags that make debug information name each tiled copy's compilation unit
    as the user's source (the ``#line`` markers already do for the line table)."""
    if not any(argument.startswith("-g") and argument != "-g0" for argument in plan.arguments):
        return []
    return [f"-fdebug-prefix-map={os.path.dirname(moved[source.index])}/="
            f"{os.path.dirname(source.path) + '/' if os.path.dirname(source.path) else ''}"
            for source in plan.sources if source.index in moved]


def compile_tiled(compiler: list[str], plan: Compilation, settings: LauncherSettings) -> int:
    """Compile ``plan`` with its C sources tiled; return the compiler's exit code."""
    original = [*compiler, *plan.arguments]
    directories = list(dict.fromkeys(os.path.dirname(source.path) or "."
                                     for source in plan.sources))
    preprocessed = _preprocessed_texts(compiler, plan, directories)
    if preprocessed is None:
        return _exec(original)
    if isinstance(preprocessed, str):
        kind = "error" if settings.strict else "note"
        for source in plan.sources:
            print(f"{source.path}:1:1: {kind}: tiler: {preprocessed}", file=sys.stderr)
        return EXIT_INPUT if settings.strict else _exec(original)
    with tempfile.TemporaryDirectory(prefix="tiler-cc-", ignore_cleanup_errors=True) as private:
        moved: dict[int, str] = {}
        failed = False
        for number, (source, text) in enumerate(zip(plan.sources, preprocessed)):
            entry = _tiled_source(compiler, plan, source, text, settings)
            failed = _print_remarks(source.path, entry, settings) or failed
            if entry.text is not None:
                moved[source.index] = _write_tiled(Path(private) / str(number), source,
                                                   entry.text)
        if failed:
            return EXIT_INPUT
        if not moved:
            return _exec_after_removing(private, original)
        arguments = [moved.get(index, argument) for index, argument in enumerate(plan.arguments)]
        command = [*compiler, *_quote_arguments(directories),
                   *_debug_names(plan, moved), *arguments]
        try:
            tiled = subprocess.run(command, check=False, stderr=subprocess.PIPE)
        except OSError as error:
            print(f"tiler cc: error: cannot run '{compiler[0]}': {error.strerror}",
                  file=sys.stderr)
            return EXIT_INPUT
        if tiled.returncode == 0 or settings.strict:
            _write_diagnostics(tiled.stderr)
            if tiled.returncode == 0:
                _rename_in_dependency_files(plan.dependency_files,
                                            {moved[source.index]: source.path
                                             for source in plan.sources
                                             if source.index in moved})
            return tiled.returncode
    return _compile_as_written(original, plan)


def _write_diagnostics(text: bytes) -> None:
    """Pass the compiler's captured diagnostics on to our standard error."""
    sys.stderr.flush()
    stream = getattr(sys.stderr, "buffer", None)
    if stream is not None:
        stream.write(text)
    else:
        sys.stderr.write(text.decode(errors="replace"))
    sys.stderr.flush()


def _compile_as_written(command: list[str], plan: Compilation) -> int:
    """Compile the sources as written after the tiled text failed to compile: when they
    compile, tiler was at fault (a note says so); when not, the user sees the compiler's own
    diagnostics of their files. Return the compiler's exit code."""
    written = subprocess.run(command, check=False, stderr=subprocess.PIPE)
    if written.returncode == 0:
        for source in plan.sources:
            print(f"{source.path}:1:1: note: tiler: the tiled text did not compile; compiled "
                  f"as written", file=sys.stderr)
    _write_diagnostics(written.stderr)
    return written.returncode


USAGE = ("usage: tiler cc [COMPILER] ARGS...   (tiler's options in $TILER_FLAGS)\n"
         "       tiler cc --clear-cache | --cache-stats")


def run_cc(arguments: list[str]) -> int:
    """``tiler cc``: run one compiler command with its C sources tiled; return its exit code."""
    if arguments == ["--clear-cache"]:
        print(f"tiler cc: removed {cache.clear()} cached tiled source(s)", file=sys.stderr)
        return EXIT_OK
    if arguments == ["--cache-stats"]:
        statistics = cache.statistics()
        print(f"hits {statistics.hits}\nmisses {statistics.misses}")
        return EXIT_OK
    if not arguments or arguments in (["-h"], ["--help"]):
        print(USAGE, file=sys.stderr)
        return EXIT_OK if arguments else EXIT_USAGE
    strict = STRICT_FLAG in arguments
    compiler, compiler_arguments = split_compiler(
        [argument for argument in arguments if argument != STRICT_FLAG], dict(os.environ))
    if Path(compiler[0]).name == "tiler":
        print("tiler cc: error: the compiler would be tiler itself; name the compiler: "
              "tiler cc gcc ...", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = parse_tiler_flags(os.environ.get(FLAGS_VARIABLE, ""), strict)
    except FlagsError as error:
        print(f"tiler cc: error: {FLAGS_VARIABLE}: {error}", file=sys.stderr)
        return EXIT_USAGE
    plan = classify(compiler_arguments)
    if isinstance(plan, PassThrough) or not any(_may_have_region(source.path)
                                                for source in plan.sources):
        return _exec([*compiler, *compiler_arguments])
    try:
        return compile_tiled(compiler, plan, settings)
    except TilerError as error:          # a --tile-sizes-file or --hierarchy that is wrong
        print(error, file=sys.stderr)
        return EXIT_INPUT
    except FlagsError as error:
        print(f"tiler cc: error: {FLAGS_VARIABLE}: {error}", file=sys.stderr)
        return EXIT_USAGE
