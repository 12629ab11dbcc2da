"""Fuzz test of the frontend: whatever text it is given (random characters and bytes, NUL
characters, valid regions cut short or mutated, token soup, pathological nesting, huge
literals) it either builds the model or raises ``TilerError`` with a line and a column inside
the file, and it does so within a budget of work (Python calls and isl operations, counted,
not timed: a busy machine cannot fail these tests). Anything else (a ``RecursionError``, an
isl error, a ``TypeError``, a hang or a blow-up past the budget) is a bug.

``TILER_FUZZ_EXAMPLES`` (see ``tests/FUZZING.md``) raises the number of inputs per test.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import re

import islpy as isl
import pytest
from conftest import example_paths
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from program_gen import programs, render
from test_differential_gen import tile_within

from tiler.errors import TilerError
from tiler.frontend import build_scop, find_regions
from tiler.pipeline import TileOptions

# The work the frontend may do on one input, counted rather than timed. A region of a few
# kilobytes (the examples, generated programs) takes under 50,000 Python calls and 30,000 isl
# operations; the most expensive of the pathological inputs below take 8.6 million calls
# (2000 nested subscripts, which the frontend handles in quadratic time) and 2 million isl
# operations (2000 statements). A few times that is a hang or a blow-up, not a slow machine.
FRONTEND_MAX_CALLS = 30_000_000
FRONTEND_MAX_OPERATIONS = 10_000_000

LONG_EXAMPLES = int(os.environ.get("TILER_FUZZ_EXAMPLES", "0"))
FUZZ_SETTINGS = settings(
    max_examples=LONG_EXAMPLES or 150,
    derandomize=not LONG_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


@pytest.fixture(autouse=True, scope="module")
def _no_isl_operations_left_over():
    """Reset isl's operation count after these tests: the scheduler's budget counts every
    operation since the last reset, not only its own (the xfail test
    test_scheduler_budget_counts_only_its_own_work), and the large inputs here would make
    tests that run later in the process schedule differently."""
    yield
    isl.DEFAULT_CONTEXT.reset_operations()


def _isl_budget_spent() -> bool:
    """Return whether isl's operation budget is used up: isl then fails every operation until
    the count is reset, so one more shows it, even when the frontend turned isl's failure
    into an error of its own."""
    try:
        isl.Set("{ [i] : 0 <= i < 2 }").count_val()
    except isl.Error:
        return True
    return False


def run_frontend_within_budget(text: str) -> None:
    """Run the frontend on ``text`` (``TilerError`` passes through) and fail the test if it
    made more than ``FRONTEND_MAX_CALLS`` Python calls or ``FRONTEND_MAX_OPERATIONS`` isl
    operations."""
    context = isl.DEFAULT_CONTEXT
    previous_budget = context.get_max_operations()
    context.reset_operations()
    context.set_max_operations(FRONTEND_MAX_OPERATIONS)
    profiler = cProfile.Profile(builtins=False)      # counts calls of Python functions
    try:
        profiler.enable()
        try:
            run_frontend(text)
        finally:
            profiler.disable()
            assert not _isl_budget_spent(), \
                f"the frontend used more than {FRONTEND_MAX_OPERATIONS:,} isl operations"
            calls = pstats.Stats(profiler).total_calls
            assert calls <= FRONTEND_MAX_CALLS, \
                f"the frontend made {calls:,} Python calls (at most {FRONTEND_MAX_CALLS:,})"
    finally:
        context.set_max_operations(previous_budget)
        context.reset_operations()


def run_frontend(text: str) -> None:
    """Build the model of every region of ``text``, as ``tile_source`` does first."""
    for region in find_regions(text):
        build_scop(text[region.start:region.end], region.first_line)


def _note(outcome: str) -> None:
    """Count an outcome in Hypothesis' statistics (when run under Hypothesis)."""
    if currently_in_test_context():
        event(outcome)


def check_frontend(text: str) -> None:
    """Fail unless the frontend accepts ``text`` or rejects it with a located ``TilerError``."""
    try:
        run_frontend_within_budget(text)
        _note("accepted")
    except TilerError as error:
        kind = re.sub(r"'[^']*'|\"[^\"]*\"", "X", error.message)
        _note(f"rejected: {' '.join(kind.split()[:4])}")
        lines = text.count("\n") + 1
        assert error.line is not None and error.column is not None, \
            f"error without a location: {error}"
        assert 1 <= error.line <= lines and error.column >= 1, \
            f"error located outside the file ({lines} lines): {error}"


def in_region(body: str) -> str:
    """Return a small C file with ``body`` as its scop region."""
    return f"void kernel(int n, int m)\n{{\n#pragma scop\n{body}\n#pragma endscop\n}}\n"


# ---- inputs ---------------------------------------------------------------------------------

def _example_regions() -> list[str]:
    regions = []
    for path in example_paths():
        text = path.read_text()
        regions += [text[r.start:r.end] for r in find_regions(text)]
    return regions


SEED_REGIONS = _example_regions() + [
    "for (i = 0; i < n; i++)\n  for (j = 0; j <= i; j++)\n    A[i][j] = A[i-1][j+1] + B[j][i];",
    ("for (t = 0; t < m; t++)\n  for (i = 1; i < n - 1; i++) {\n"
     "    s = (A[i-1] + A[i] + A[i+1]) / 3.0;\n    B[i] = s > 0 ? s : -s;\n  }"),
    ("for (i = n - 1; i >= 0; i -= 2)\n  if (i % 3 == 1 && i > m)\n"
     "    x += (double) A[i] * SQRT_FUN(2.0);\n  else\n    A[i]++;"),
    "for (int k = max(0, n - 4); k < min(n, m + 2); k++)\n  C[k][floord(k, 2)] = (k + 1) / 2;",
]

# Pieces of C and near-C for token soup: keywords, operators, names, literals, pragmas.
TOKENS = ("for", "if", "else", "while", "do", "goto", "return", "int", "double", "unsigned",
          "(", ")", "[", "]", "{", "}", ";", ",", "=", "+=", "-=", "*=", "/=", "%=", "<<=",
          "++", "--", "+", "-", "*", "/", "%", "<", "<=", ">", ">=", "==", "!=", "&&", "||",
          "!", "~", "&", "|", "^", "<<", ">>", "?", ":", ".", "->", "i", "j", "n", "A", "s",
          "min", "max", "floord", "0", "1", "-1", "2.5", "1e308", "0x7fffffffffffffffff",
          "99999999999999999999999999", "1u", "'c'", '"str"', "\\\n", "/*", "*/", "//", "\n",
          "#pragma scop\n", "#pragma endscop\n", "#define X 1\n", "\x00", "\x00cast", "é",
          "\u2028", "\t", "\r\n", "sizeof")

MUTATIONS = ("delete", "insert", "token", "duplicate", "truncate", "swap")


@st.composite
def mutated_regions(draw, seeds: st.SearchStrategy[str] | None = None) -> str:
    """Return a valid region (from ``seeds``, by default the examples' and a few more) with a
    few random edits: spans deleted, duplicated or swapped, characters or tokens inserted,
    the end cut off."""
    text = draw(seeds if seeds is not None else st.sampled_from(SEED_REGIONS))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(MUTATIONS))
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 40)))
        if kind == "delete":
            text = text[:start] + text[end:]
        elif kind == "insert":
            text = text[:start] + draw(st.text(max_size=6)) + text[start:]
        elif kind == "token":
            text = text[:start] + " " + draw(st.sampled_from(TOKENS)) + " " + text[start:]
        elif kind == "duplicate":
            text = text[:end] + text[start:end] + text[end:]
        elif kind == "truncate":
            text = text[:start]
        else:
            other = draw(st.integers(0, len(text)))
            low, high = sorted((start, other))
            text = text[:low] + text[high:high + 10] + text[low + 10:high] + text[low:low + 10] \
                + text[high + 10:]
    return text


def generated_regions() -> st.SearchStrategy[str]:
    return programs().map(lambda program: render(program).region)


# ---- tests ----------------------------------------------------------------------------------

@FUZZ_SETTINGS
@given(st.text())
def test_random_text_in_a_region(body):
    check_frontend(in_region(body))


@FUZZ_SETTINGS
@given(st.binary())
def test_random_bytes_in_a_region(data):
    # As tiler reads files: bytes that are not UTF-8 become lone surrogates.
    check_frontend(in_region(data.decode("utf-8", errors="surrogateescape")))


@FUZZ_SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=60), st.sampled_from((" ", "", "\n")))
def test_token_soup_in_a_region(pieces, separator):
    check_frontend(in_region(separator.join(pieces)))


@FUZZ_SETTINGS
@given(mutated_regions())
def test_mutated_example_regions(body):
    check_frontend(in_region(body))


@FUZZ_SETTINGS
@given(mutated_regions(seeds=generated_regions()))
def test_mutated_generated_regions(body):
    check_frontend(in_region(body))


@FUZZ_SETTINGS
@given(st.sampled_from(example_paths()), st.data())
def test_truncated_example_files(path, data):
    text = path.read_text()
    cut = data.draw(st.integers(0, len(text)))
    check_frontend(text[:cut])


def _nested(opening: str, middle: str, closing: str, depth: int) -> str:
    return opening * depth + middle + closing * depth


PATHOLOGICAL = {
    "parentheses in a bound": in_region(
        "for (i = 0; i < " + _nested("(", "n", ")", 5000) + "; i++) A[i] = 0;"),
    "parentheses in a statement": in_region(
        "for (i = 0; i < n; i++) A[i] = " + _nested("(", "1", ")", 5000) + ";"),
    "parentheses in a subscript": in_region(
        "for (i = 0; i < n; i++) A[" + _nested("(", "i", ")", 5000) + "] = 0;"),
    "unary minus": in_region("for (i = 0; i < n; i++) A[i] = " + "- " * 5000 + "1;"),
    "negations": in_region("for (i = 0; i < n; i++) A[i] = " + "!" * 5000 + "1;"),
    "casts": in_region("for (i = 0; i < n; i++) A[i] = " + "(double) " * 5000 + "1;"),
    "long sum": in_region("for (i = 0; i < n; i++) A[i] = " + " + ".join(["1"] * 5000) + ";"),
    "long sum in a bound": in_region(
        "for (i = 0; i < " + " + ".join(["n"] * 5000) + "; i++) A[i] = 0;"),
    "nested calls": in_region(
        "for (i = 0; i < n; i++) A[i] = " + _nested("f(", "1", ")", 3000) + ";"),
    "nested calls in a bound": in_region(
        "for (i = 0; i < " + _nested("min(n, ", "n", ")", 2000) + "; i++) A[i] = 0;"),
    "nested subscripts": in_region(
        "for (i = 0; i < n; i++) A[i] = " + _nested("A[", "i", "]", 2000) + ";"),
    "nested conditionals": in_region(
        "for (i = 0; i < n; i++) A[i] = " + "i > 0 ? 1 : " * 2000 + "0;"),
    "many subscripts": in_region("for (i = 0; i < n; i++) A" + "[i]" * 3000 + " = 0;"),
    "nested blocks": in_region(_nested("{", "A[0] = 0;", "}", 5000)),
    "nested ifs": in_region("for (i = 0; i < n; i++) " + "if (i > 0) " * 3000 + "A[i] = 0;"),
    "nested loops": in_region("".join(f"for (i{k} = 0; i{k} < n; i{k}++) " for k in range(400))
                              + "A[i0] = 0;"),
    "many statements": in_region(
        "for (i = 0; i < n; i++) {" + "".join(f"A{k}[i] = A{k}[i + 1];" for k in range(2000))
        + "}"),
    "huge integer bound": in_region("for (i = 0; i < " + "9" * 400 + "; i++) A[i] = 0;"),
    "huge hexadecimal bound": in_region("for (i = 0; i < 0x" + "f" * 400 + "; i++) A[i] = 0;"),
    "huge step": in_region("for (i = 0; i < n; i += " + "9" * 40 + ") A[i] = 0;"),
    "huge subscript constant": in_region("for (i = 0; i < n; i++) A[i + " + "9" * 40 + "] = 0;"),
    "huge coefficient": in_region("for (i = 0; i < n; i++) A[" + "9" * 40 + " * i] = 0;"),
    "huge divisor": in_region("for (i = 0; i < n; i++) A[i / " + "9" * 40 + "] = 0;"),
    "huge floating literal": in_region("for (i = 0; i < n; i++) A[i] = 1e99999;"),
    "long identifier": in_region("for (i = 0; i < n; i++) " + "B" * 100000 + "[i] = 0;"),
    "NUL characters": in_region("for (i = 0; i < n; i++)\x00 A[i] = 0;\x00"),
    "the post-lexer's cast token": in_region("for (i = 0; i < n; i++) A[i] = \x00cast 1;"),
    "non-ASCII identifiers": in_region("for (é = 0; é < ñ; é++) Ä[é] = ß + 名前[é];"),
    "a lone surrogate": in_region("for (i = 0; i < n; i++) A[i] = \udcff;"),
    "a form feed and a vertical tab": in_region("for (i = 0; i < n; i++)\f\v A[i] = 0;"),
    "an unterminated comment": in_region("for (i = 0; i < n; i++) /* A[i] = 0;"),
    "an unbalanced brace": in_region("for (i = 0; i < n; i++) { A[i] = 0;"),
    "a region at the end of the file": "#pragma scop\nA[0] = 1;\n#pragma endscop",
    "an empty file": "",
}


@pytest.mark.parametrize("text", list(PATHOLOGICAL.values()), ids=list(PATHOLOGICAL))
def test_pathological_input(text):
    check_frontend(text)


@pytest.mark.parametrize("budget", ["FRONTEND_MAX_CALLS", "FRONTEND_MAX_OPERATIONS"])
def test_work_past_a_budget_fails(monkeypatch, budget):
    # The budgets are what stands for a time limit here: each must be able to fail a test.
    monkeypatch.setattr(__import__(__name__), budget, 100)
    with pytest.raises(AssertionError, match="the frontend"):
        check_frontend(in_region(SEED_REGIONS[-1]))
    monkeypatch.undo()
    check_frontend("")                  # and the budget is restored for what runs next
    isl.Set("{ [i] : 0 <= i < 2 }").count_val()


# Inputs that are C (or close to it) but that the model cannot represent faithfully: tiling
# them would change what they compute, so they must be refused, with the place named.
REFUSED = {
    "an iterator used as an array name": (
        in_region("for (i = 1; i < n; i++)\n  for (j = 0; j < n - 1; j++)\n"
                  "    i[A][j] = A[i - 1][j + 1];"),
        r"loop iterator 'i' is subscripted like an array", 6, 5),
    "an array passed whole to a function": (
        in_region("for (i = 0; i < n; i++)\n  B[i] = f(A) + A[i];"),
        r"array 'A' \(subscripted at line 5\) is used without subscripts", 5, 12),
    "an unsigned iterator counting down to its wrap-around": (
        ("void kernel(int n)\n{\n  unsigned i;\n#pragma scop\n"
         "  for (i = n - 1; i < n; i--)\n    A[i] = 0;\n#pragma endscop\n}\n"),
        r"loop condition 'i < n' does not bound 'i'", 5, 19),
    "a loop condition without the iterator": (
        in_region("for (i = 0; n; i++)\n  A[i] = 0;"),
        r"loop condition 'n' does not bound 'i'", 4, 13),
    "a NUL followed by the name of the post-lexer's cast token": (
        in_region("for (i = 0; i < n; i++)\n  A[i] = \x00cast 1;"),
        r"unexpected character '\\x00'", 5, 10),
    "a step too large for isl": (
        in_region("for (i = 0; i < n; i += 99999999999999999999)\n  A[i] = 0;"),
        r"unsupported loop increment for 'i'", 4, 20),
}


@pytest.mark.parametrize(("text", "message", "line", "column"), list(REFUSED.values()),
                         ids=list(REFUSED))
def test_refused_input(text, message, line, column):
    with pytest.raises(TilerError, match=message) as caught:
        run_frontend(text)
    assert (caught.value.line, caught.value.column) == (line, column)


# ---- the whole pass -------------------------------------------------------------------------

@settings(FUZZ_SETTINGS, max_examples=LONG_EXAMPLES // 10 or 12)
@given(mutated_regions())
def test_whole_pass_on_mutated_regions_raises_only_located_errors(body):
    """The whole pass (in a child process, with a time limit) on a mutated region: done, or
    a ``TilerError`` with a location; never another exception."""
    try:
        tile_within(in_region(body), TileOptions(tile_sizes=(3, 5)))
    except TilerError as error:
        assert error.line is not None and error.column is not None, str(error)
