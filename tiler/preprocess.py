"""The C preprocessor's view of a file: each scop region as the compiler will see it.

The pass models what the compiler compiles, so it runs the user's own preprocessor (``cc -E``
with the user's ``-D``/``-I``/``-std`` flags) and reads each region from its output: a macro that
names an array element (``#define CUR A[i][j]``) or reads an array (``#define AT(a, b)
P[(a)][(b)]``) is then seen for what it is. Why ``cc -E`` and not a Python preprocessor: it is
the compiler's own (its predefined macros, include paths and ``-std`` rules), so the model cannot
disagree with what is compiled.

Two things are kept as the user wrote them: a region that uses no macro is read from the file
itself (exact columns in errors, the user's spelling in the output), and an object-like macro
whose expansion is an integer constant (``#define N 2000``) stays a named parameter of the
region, so the tiled code is correct for any value a later ``-DN=`` gives it; its value is
known to the cost model. Every other macro used in a region is expanded, so the output follows
the configuration the flags select.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

from tiler.declarations import Declarations, integer_constant, scan_declarations, tokens
from tiler.errors import TilerError

# The compiler whose preprocessor reads the file when none is named: the one ``make`` uses.
DEFAULT_CC = "cc"
# Missing headers are dropped one at a time and the preprocessor run again; a file with more
# missing headers than this is preprocessed without its includes' macros all the same.
MAX_MISSING_HEADERS = 32
# A compiler that takes longer than this to list its predefined macros is taken to have none.
PREDEFINED_MACROS_SECONDS = 30
# Macros the preprocessor defines itself, never listed by ``-dD``.
BUILTIN_MACROS = frozenset({"__LINE__", "__FILE__", "__COUNTER__", "__DATE__", "__TIME__",
                            "__TIMESTAMP__", "__BASE_FILE__", "__INCLUDE_LEVEL__",
                            "__FILE_NAME__"})

_MARKER = re.compile(r'^# (\d+) "((?:[^"\\]|\\.)*)"((?: \d)*)\s*$')
_DEFINE = re.compile(r"^#define ([A-Za-z_]\w*)(\(([^)]*)\))? ?(.*)$")
_UNDEF = re.compile(r"^#undef ([A-Za-z_]\w*)")
_DIAGNOSTIC = re.compile(r"^(.+?):(\d+):(\d+): (?:fatal )?error: (.*)$")
_MISSING = re.compile(r"^(.+?):(\d+):(\d+): fatal error: (.+?): No such file or directory")
_INCLUDED_FROM = re.compile(r"^(?:In file included from|\s+from) (.+?):(\d+)[:,]")


@dataclass(frozen=True)
class Preprocessor:
    """How to preprocess: the compiler (``cc -E``) and the user's preprocessor flags (``-D``,
    ``-U``, ``-I``, ``-iquote``, ``-isystem``, ``-include``, ``-std``)."""

    cc: str = DEFAULT_CC
    flags: tuple[str, ...] = ()


# Without options: the default compiler's preprocessor, with no flags.
DEFAULT_PREPROCESSOR = Preprocessor()


@dataclass(frozen=True)
class Macro:
    """A macro definition: ``parameters`` is None for an object-like macro."""

    name: str
    parameters: tuple[str, ...] | None
    body: str


@dataclass(frozen=True)
class RegionView:
    """One region as the compiler sees it. ``text`` is None when that is the file's own text;
    otherwise it is the preprocessed region, one line per line of the file (a line the
    preprocessor joined or dropped is blank), so locations stay the user's."""

    pragma_line: int
    text: str | None
    expanded: tuple[str, ...]          # the macros the region uses that were expanded
    constants: dict[str, int]          # integer-constant macros visible here, and their values
    declarations: Declarations         # what is declared where the region starts
    skip_reason: str | None = None     # why the region must be left as it is
    type_sizes: dict[str, int] = field(default_factory=dict)   # sizeof the basic types


@dataclass(frozen=True)
class PreprocessedFile:
    """Every region of a file seen through the preprocessor, keyed by its pragma's line."""

    regions: dict[int, RegionView]
    warnings: tuple[str, ...] = ()
    type_sizes: dict[str, int] = field(default_factory=dict)
    missing_headers: tuple[str, ...] = ()


def preprocess(text: str, filename: str, preprocessor: Preprocessor,
               pragma_lines: list[tuple[int, int]]) -> PreprocessedFile:
    """Return the compiler's view of the regions whose ``#pragma scop`` and ``#pragma
    endscop`` lines are ``pragma_lines`` in ``text`` (the file ``filename``). A header that
    cannot be found is dropped with a warning; any other preprocessor error is a TilerError at
    its location."""
    text, missing = _without_missing_headers(text, filename, preprocessor)
    warnings = [warning for _, warning in missing]
    output = _run(text, filename, preprocessor)
    first = _scan(output, filename)
    regions: dict[int, RegionView] = {}
    second_pass: dict[int, tuple[str, ...]] = {}
    for start, end in pragma_lines:
        seen = first.regions.get(start)
        if seen is None:
            regions[start] = RegionView(start, None, (), {}, Declarations(), (
                "the preprocessor leaves this region out (conditional compilation)"))
            continue
        macros = seen.macros
        constants = {name: value for name in macros
                     if (value := constant_value(name, macros)) is not None}
        region_text = "".join(text.splitlines(keepends=True)[start:end - 1])
        used = {token for token in _identifiers(region_text)
                if token in macros or token in BUILTIN_MACROS}
        expanded = tuple(sorted(name for name in used if name not in constants))
        view = RegionView(start, None, expanded, constants, seen.declarations)
        if re.search(r"^[ \t]*#[ \t]*(define|undef)\b", region_text, re.MULTILINE):
            view = RegionView(start, None, expanded, constants, seen.declarations, (
                "the region defines macros (as tiler's own output does: it is already tiled)"))
        elif expanded or re.search(r"^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif|include)\b",
                                   region_text, re.MULTILINE):
            kept = tuple(sorted(name for name in used if name in constants))
            if kept:
                second_pass[start] = kept
            else:
                view = RegionView(start, _aligned(seen.lines, start, end), expanded,
                                  constants, seen.declarations)
        regions[start] = view
    if second_pass:
        kept_text = _keeping_constants(text, second_pass, pragma_lines)
        again = _scan(_run(kept_text, filename, preprocessor), filename)
        for start, end in pragma_lines:
            if start in second_pass and start in again.regions:
                view = regions[start]
                regions[start] = RegionView(start, _aligned(again.regions[start].lines, start,
                                                            end),
                                            view.expanded, view.constants, view.declarations)
    sizes = type_sizes(preprocessor)
    return PreprocessedFile({line: replace(view, type_sizes=sizes)
                             for line, view in regions.items()}, tuple(warnings), sizes,
                            tuple(header for header, _ in missing))


def constant_value(name: str, macros: dict[str, Macro], depth: int = 0) -> int | None:
    """Return the value of an object-like macro whose expansion is an integer constant (see
    ``integer_constant``; macros in it expanded), or None."""
    macro = macros.get(name)
    if macro is None or macro.parameters is not None or depth > 16:
        return None
    words: list[str] = []
    for word in tokens(macro.body):
        if re.match(r"[A-Za-z_]", word):
            value = constant_value(word, macros, depth + 1)
            if value is None:
                return None
            words += ["(", str(value), ")"] if value >= 0 else ["(", "-", str(-value), ")"]
        else:
            words.append(word)
    return integer_constant(words)


@functools.lru_cache(maxsize=16)
def predefined_macros(preprocessor: Preprocessor) -> dict[str, str]:
    """Return the compiler's predefined macros for the user's flags (``cc -dM -E``)."""
    try:
        done = subprocess.run([preprocessor.cc, "-dM", "-E", *preprocessor.flags, "-x", "c",
                               os.devnull], capture_output=True, text=True, check=False,
                              timeout=PREDEFINED_MACROS_SECONDS)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found = {}
    for line in done.stdout.splitlines():
        match = _DEFINE.match(line)
        if match and match.group(2) is None:
            found[match.group(1)] = match.group(4)
    return found


def type_sizes(preprocessor: Preprocessor) -> dict[str, int]:
    """Return ``sizeof`` of the basic types on the compiler's target (its ``__SIZEOF_*__``
    macros), with the LP64 sizes where the compiler does not say."""
    sizes = {"char": 1, "short": 2, "int": 4, "long": 8, "long long": 8, "float": 4,
             "double": 8, "long double": 16, "_Bool": 1, "pointer": 8, "_Float16": 2,
             "__bf16": 2, "__int128": 16}
    names = {"SHORT": "short", "INT": "int", "LONG": "long", "LONG_LONG": "long long",
             "FLOAT": "float", "DOUBLE": "double", "LONG_DOUBLE": "long double",
             "POINTER": "pointer"}
    for key, value in predefined_macros(preprocessor).items():
        match = re.fullmatch(r"__SIZEOF_(\w+)__", key)
        if match and match.group(1) in names and value.isdigit():
            sizes[names[match.group(1)]] = int(value)
    return sizes


# ---- running the preprocessor ------------------------------------------------------------

def _command(preprocessor: Preprocessor, filename: str) -> list[str]:
    folder = str(Path(filename).resolve().parent) if filename != "<stdin>" else os.getcwd()
    # The text goes through standard input (with a #line naming the file), so that it can be
    # the file with a line blanked; '-iquote' gives "..." includes the file's own folder.
    return [preprocessor.cc, "-E", "-dD", *preprocessor.flags, "-iquote", folder, "-x", "c",
            "-"]


def _quoted(filename: str) -> str:
    return filename.replace("\\", "\\\\").replace('"', '\\"')


def _run(text: str, filename: str, preprocessor: Preprocessor) -> str:
    done = _invoke(text, filename, preprocessor)
    if done.returncode != 0:
        raise _error(done.stderr, filename, preprocessor)
    return done.stdout


def _invoke(text: str, filename: str, preprocessor: Preprocessor) -> subprocess.CompletedProcess:
    source = f'#line 1 "{_quoted(filename)}"\n{text}'
    try:
        return subprocess.run(_command(preprocessor, filename), input=source,
                              capture_output=True, text=True, errors="surrogateescape",
                              check=False)
    except OSError as error:
        raise TilerError(f"cannot run the preprocessor '{preprocessor.cc}': {error.strerror} "
                         "(name a C compiler with --cc)", filename=filename) from None


def _error(stderr: str, filename: str, preprocessor: Preprocessor) -> TilerError:
    for line in stderr.splitlines():
        match = _DIAGNOSTIC.match(line)
        if match:
            where, line_number, column, message = match.groups()
            return TilerError(f"the preprocessor ({preprocessor.cc} -E) says: {message}",
                              int(line_number), int(column), filename=where)
    first = next((line for line in stderr.splitlines() if line.strip()), "no message")
    return TilerError(f"the preprocessor ({preprocessor.cc} -E) failed: {first}",
                      filename=filename)


def _without_missing_headers(text: str, filename: str, preprocessor: Preprocessor
                             ) -> tuple[str, list[tuple[str, str]]]:
    """Return ``text`` with the ``#include`` lines that lead to a missing header blanked, and
    each such header with a warning (what the file defines itself is still expanded)."""
    warnings: list[tuple[str, str]] = []
    for _ in range(MAX_MISSING_HEADERS):
        done = _invoke(text, filename, preprocessor)
        missing = next((m for m in map(_MISSING.match, done.stderr.splitlines()) if m), None)
        if done.returncode == 0 or missing is None:
            break
        line_number, column = int(missing.group(2)), int(missing.group(3))
        if missing.group(1) != filename:
            outer = [m for m in map(_INCLUDED_FROM.match, done.stderr.splitlines())
                     if m and m.group(1) == filename]
            if not outer:
                break
            line_number, column = int(outer[-1].group(2)), 1
        lines = text.splitlines(keepends=True)
        if not 1 <= line_number <= len(lines) or "#" not in lines[line_number - 1]:
            break
        ending = "\n" if lines[line_number - 1].endswith("\n") else ""
        lines[line_number - 1] = ending
        text = "".join(lines)
        warnings.append((missing.group(4), (
            f"{filename}:{line_number}:{column}: warning: header '{missing.group(4)}' not "
            "found: its macros are not expanded and its names are taken as parameters and "
            "pure functions (pass -I DIR, as to the compiler)")))
    return text, warnings


# ---- reading its output ----------------------------------------------------------------

@dataclass
class _SeenRegion:
    macros: dict[str, Macro]
    declarations: Declarations
    lines: list[tuple[int, str]] = field(default_factory=list)   # (line in the file, text)


@dataclass
class _Scan:
    regions: dict[int, _SeenRegion]


def _scan(output: str, filename: str) -> _Scan:
    """Return the regions of the main file in the preprocessor's output, each with the macros
    defined and the declarations visible where it starts, and its lines."""
    macros: dict[str, Macro] = {}
    regions: dict[int, _SeenRegion] = {}
    current_file, line_number = filename, 1
    code: list[str] = []                 # the output's C text so far (for the declarations)
    inside: _SeenRegion | None = None
    for raw in output.splitlines():
        marker = _MARKER.match(raw)
        if marker:
            line_number, current_file = int(marker.group(1)), _unquoted(marker.group(2))
            continue
        here = line_number
        line_number += 1
        if raw.startswith("#define "):
            match = _DEFINE.match(raw)
            if match:
                parameters = None if match.group(2) is None else tuple(
                    p.strip() for p in match.group(3).split(",") if p.strip())
                macros[match.group(1)] = Macro(match.group(1), parameters, match.group(4))
            continue
        if raw.startswith("#undef "):
            match = _UNDEF.match(raw)
            if match:
                macros.pop(match.group(1), None)
            continue
        in_main = current_file == filename
        stripped = raw.strip()
        if in_main and inside is None and re.fullmatch(r"#\s*pragma\s+scop\b.*", stripped):
            inside = _SeenRegion(dict(macros), scan_declarations("\n".join(code)))
            regions[here] = inside
            continue
        if in_main and inside is not None and re.fullmatch(r"#\s*pragma\s+endscop\b.*",
                                                           stripped):
            inside = None
            continue
        if inside is not None:
            inside.lines.append((here if in_main else -1, raw))
        elif not stripped.startswith("#"):
            code.append(raw)
    return _Scan(regions)


def _unquoted(name: str) -> str:
    return re.sub(r"\\(.)", r"\1", name)


def _aligned(lines: list[tuple[int, str]], start: int, end: int) -> str:
    """Return the region's preprocessed lines placed at their lines of the file (the region
    spans the lines after ``start`` and before ``end``)."""
    placed = [""] * max(0, end - start - 1)
    for line_number, text in lines:
        if line_number < 0:
            raise TilerError("the region includes another file; a region must be the code "
                             "of one file", start + 1, 1)
        index = line_number - start - 1
        if 0 <= index < len(placed):
            placed[index] = f"{placed[index]} {text}" if placed[index] else text
    return "".join(line + "\n" for line in placed)


def _identifiers(text: str) -> set[str]:
    return {token for token in tokens(text) if re.match(r"[A-Za-z_]", token)}


def _keeping_constants(text: str, kept: dict[int, tuple[str, ...]],
                       pragma_lines: list[tuple[int, int]]) -> str:
    """Return ``text`` where the constant macros ``kept`` (by region) are hidden from the
    preprocessor inside their region (pushed and undefined after the scop pragma, restored
    after the endscop pragma), with #line directives keeping the file's line numbers."""
    lines = text.splitlines(keepends=True)
    for start, end in reversed(pragma_lines):
        names = kept.get(start)
        if not names:
            continue
        after_end = "".join(f'#pragma pop_macro("{name}")\n' for name in names)
        lines[end - 1] = _line_with_newline(lines[end - 1]) + after_end + f"#line {end + 1}\n"
        hide = "".join(f'#pragma push_macro("{name}")\n#undef {name}\n' for name in names)
        lines[start - 1] = _line_with_newline(lines[start - 1]) + hide + f"#line {start + 1}\n"
    return "".join(lines)


def _line_with_newline(line: str) -> str:
    return line if line.endswith("\n") else line + "\n"
