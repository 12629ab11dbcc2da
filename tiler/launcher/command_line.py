"""What a compiler command line asks for, read the way ccache reads it.

``classify(arguments)`` returns a ``Compilation`` when the command compiles C sources that
tiler may rewrite (``-c``, ``-S``, or compile and link of ``.c`` files), else a ``PassThrough``
saying why the command goes to the compiler untouched: links, assembler files, ``-E``, ``-M``
and ``-MM`` (which preprocess only), response files, standard input, and anything else not
understood.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# Options whose value may be the next argument. Knowing them keeps a value such as the
# ``foo.c`` of ``-MT foo.c`` from being taken for a source file.
SEPARATE_VALUE_OPTIONS = frozenset({
    "-o", "-I", "-D", "-U", "-include", "-imacros", "-iquote", "-isystem", "-idirafter",
    "-iprefix", "-iwithprefix", "-iwithprefixbefore", "-isysroot", "-imultilib", "-MF", "-MT",
    "-MQ", "-x", "-L", "-l", "-Xlinker", "-Xassembler", "-Xpreprocessor", "-Xclang", "-u",
    "-T", "-z", "-aux-info", "--param", "-A", "-wrapper", "-dumpbase", "-dumpbase-ext",
    "-dumpdir", "-e", "--sysroot", "-target", "--target", "-arch", "-G",
})
# Options after which the compiler does not compile C to an object, or tiler cannot follow it.
PASS_THROUGH_OPTIONS = frozenset({"-E", "-M", "-MM", "-fsyntax-only", "-###", "-I-"})
# Options that make the compiler write a dependency file beside its output.
DEPENDENCY_OPTIONS = frozenset({"-MD", "-MMD"})
# The options that drop out of a compile's command line to make it a preprocessing one.
NOT_FOR_PREPROCESSING = frozenset({"-c", "-S", "-MD", "-MMD", "-MP", "-MG"})
NOT_FOR_PREPROCESSING_VALUE = frozenset({"-o", "-MF", "-MT", "-MQ"})
# Suffixes of C sources that tiler rewrites (without -x).
C_SUFFIXES = (".c",)
# Suffixes of the other inputs a compiler driver takes, so the first argument of
# ``tiler cc foo.c`` is not taken for the compiler.
INPUT_SUFFIXES = (".c", ".i", ".h", ".s", ".S", ".sx", ".o", ".a", ".so", ".cc", ".cpp",
                  ".cxx", ".C", ".m", ".obj", ".lo", ".la", ".dylib")

# Launchers that take the compiler as their first argument, as tiler cc does.
COMPILER_WRAPPERS = frozenset({"ccache", "sccache", "distcc", "icecc"})


@dataclass(frozen=True)
class Source:
    """A C source of a compile: its position in the argument list and its path as given."""

    index: int
    path: str


@dataclass(frozen=True)
class Compilation:
    """A compile tiler may rewrite.

    Attributes:
        arguments: the compiler's arguments (without tiler's own).
        sources: the C sources among them.
        inputs: the positions of every input file (sources, objects, libraries).
        links: whether the command also links (no ``-c`` or ``-S``).
        openmp: whether ``-fopenmp`` is in effect (tiler then adds parallel loops).
        output: the ``-o`` argument, if any.
        dependency_files: where the compiler writes dependency files (``-MD``/``-MMD``
            with ``-MF`` or the name derived from the output, and ``-Wp,-MD,FILE``).
    """

    arguments: tuple[str, ...]
    sources: tuple[Source, ...]
    inputs: frozenset[int]
    links: bool
    openmp: bool
    output: str | None
    dependency_files: tuple[str, ...]

    def preprocessing_arguments(self, source: Source) -> tuple[str, ...]:
        """Return the arguments that preprocess ``source`` alone with the compile's flags:
        the compile's, without its inputs, outputs, dependency files, ``-c``/``-S`` and link
        options, then ``-E`` and the source."""
        kept: list[str] = []
        index = 0
        while index < len(self.arguments):
            argument = self.arguments[index]
            takes_value = argument in SEPARATE_VALUE_OPTIONS
            dropped = (index in self.inputs or argument in NOT_FOR_PREPROCESSING
                       or argument in NOT_FOR_PREPROCESSING_VALUE
                       or argument.startswith(("-Wp,-M", "-Wl,", "-l"))
                       or any(argument.startswith(option) for option
                              in NOT_FOR_PREPROCESSING_VALUE))
            if not dropped:
                kept += self.arguments[index:index + 1 + takes_value]
            index += 1 + takes_value
        return (*kept, "-E", source.path)


@dataclass(frozen=True)
class PassThrough:
    """A command tiler leaves to the compiler as it is, and why."""

    reason: str


def split_compiler(arguments: list[str], environment: dict[str, str]
                   ) -> tuple[list[str], list[str]]:
    """Return the compiler command and its arguments: ``tiler cc gcc -c a.c`` names the
    compiler first; ``tiler cc -c a.c`` takes ``$CC`` (split at spaces), else ``cc``."""
    first = arguments[0] if arguments else ""
    if first and not first.startswith("-") and not first.endswith(INPUT_SUFFIXES) \
            and not first.startswith("@"):
        compiler, rest = [first], arguments[1:]
    else:
        import shlex
        compiler, rest = shlex.split(environment.get("CC", "")) or ["cc"], arguments
    # ``tiler cc ccache gcc -c a.c``: the wrapper's compiler is part of the command.
    if os.path.basename(compiler[-1]) in COMPILER_WRAPPERS and rest \
            and not rest[0].startswith("-"):
        compiler, rest = [*compiler, rest[0]], rest[1:]
    return compiler, rest


def _dependency_file(source: str, output: str | None) -> str:
    """Return the file ``-MD``/``-MMD`` writes when no ``-MF`` names it (GCC's rule: the
    output with its suffix replaced by ``.d``, else the source's base name with ``.d``)."""
    if output is not None:
        return os.path.splitext(output)[0] + ".d"
    return os.path.splitext(os.path.basename(source))[0] + ".d"


def classify(arguments: list[str]) -> Compilation | PassThrough:
    """Return what the compiler command line ``arguments`` does, as far as tiler cares."""
    sources: list[Source] = []
    language: str | None = None
    output: str | None = None
    links = True
    inputs: set[int] = set()
    openmp = dependencies = False
    explicit_dependency_file: str | None = None
    wrapped_dependency_files: list[str] = []
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        if argument in PASS_THROUGH_OPTIONS:
            return PassThrough(f"{argument} does not compile to an object")
        if argument.startswith("@"):
            return PassThrough("a response file is not read")
        if argument == "-":
            return PassThrough("a source on standard input is not read")
        if argument in SEPARATE_VALUE_OPTIONS:
            if index + 1 >= len(arguments):
                return PassThrough(f"{argument} without its value")
            value = arguments[index + 1]
            if argument == "-o":
                output = value
            elif argument == "-x":
                language = None if value == "none" else value
            elif argument == "-MF":
                explicit_dependency_file = value
            index += 2
            continue
        if argument.startswith("-o") and len(argument) > 2:
            output = argument[2:]
        elif argument.startswith("-x") and len(argument) > 2:
            language = None if argument[2:] == "none" else argument[2:]
        elif argument.startswith("-MF") and len(argument) > 3:
            explicit_dependency_file = argument[3:]
        elif argument in ("-c", "-S"):
            links = False
        elif argument in DEPENDENCY_OPTIONS:
            dependencies = True
        elif argument.startswith("-Wp,"):
            parts = argument.split(",")
            if len(parts) == 3 and parts[1] in DEPENDENCY_OPTIONS:
                wrapped_dependency_files.append(parts[2])
            elif any(part.startswith("-M") for part in parts[1:]):
                return PassThrough(f"{argument} is not understood")
        elif argument in ("-fopenmp", "-qopenmp") or argument.startswith("-fopenmp="):
            openmp = True
        elif argument == "-fno-openmp":
            openmp = False
        elif not argument.startswith("-"):
            inputs.add(index)
            is_c = language == "c" if language is not None else argument.endswith(C_SUFFIXES)
            if is_c:
                sources.append(Source(index, argument))
        index += 1
    if not sources:
        return PassThrough("no C source to compile")
    if links and (dependencies or wrapped_dependency_files):
        return PassThrough("dependency files of a compile-and-link command are not followed "
                           "(compile with -c)")
    dependency_files = list(wrapped_dependency_files)
    if dependencies:
        if explicit_dependency_file is not None:
            dependency_files.append(explicit_dependency_file)
        else:
            dependency_files += [_dependency_file(source.path, output)
                                 for source in sources]
    return Compilation(tuple(arguments), tuple(sources), frozenset(inputs), links, openmp, output,
                       tuple(dict.fromkeys(dependency_files)))
