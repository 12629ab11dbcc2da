"""The pass as a whole: text in, tiled text and a report per region out."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import islpy as isl

from tiler.codegen import generate_with_deadline, identifiers
from tiler.deadline import DeadlineExceeded
from tiler.decide import Code, Verdict, chain_limit, judge
from tiler.dependences import (
    Deps,
    LiveRanges,
    compute_dependences,
    live_ranges_intact,
    relax_scalar_dependences,
)
from tiler.errors import TilerError
from tiler.footprint import band_shape, loop_paths, merged_shape, statement_shape
from tiler.frontend import RegionContext, build_scop, find_regions
from tiler.hierarchy import Hierarchy, default_hierarchy
from tiler.model import Scop
from tiler.output import default_output_path, write_atomically
from tiler.preprocess import (
    DEFAULT_PREPROCESSOR,
    PreprocessedFile,
    Preprocessor,
    RegionView,
    preprocess,
)
from tiler.schedule import (
    Planner,
    TiledBand,
    TilePlan,
    is_legal,
    isl_schedule,
    original_schedule,
    original_schedule_map,
    parallel_loops_are_legal,
    tile_schedule,
    isl_schedules,
    tileability,
)
from tiler.target import Target, detect_target
from tiler.tilesize import (
    choose_tile_sizes,
    innermost_stride_score,
    micro_kernel_sizes,
    point_order,
)
from tiler.transform.distribution import distribute_innermost
from tiler.transform.panel import panels_are_legal
from tiler.transform.register import (
    micro_kernels_are_legal,
    plan_micro_kernel,
    tile_loop_order,
)

# A schedule may walk memory slightly worse than the original in its innermost loops (by
# this much of the stride-one score per instance, e.g. one access of 1% of the instances)
# when it exposes more tileable loops: an O(n^2) statement beside an O(n^3) one.
STRIDE_TOLERANCE = 0.02

# Another innermost point loop than the size model's is taken when it is predicted this much
# faster (the prediction is rough; a near tie keeps the order the sizes were chosen for).
REORDER_MARGIN = 1.2

# ... in a band of at least this many members. In a band of two, moving the reduction's loop
# out leaves a walk down a column of the other operand innermost, with a store into the
# array it reads beside it; that measured slower than the chain it avoids (a triangular
# solve: 0.68x the untiled time, where three-member bands gained 1.06-1.7x).
REORDER_MEMBERS = 3

# PLUTO's and Polly's default tile size: the size of band members beyond the given sizes.
DEFAULT_TILE_SIZE = 32


@dataclass(frozen=True)
class TileOptions:
    """How to tile. ``tile_sizes`` apply to every band from its outermost member; members
    beyond the list get ``default_size``. Without them, sizes come from the footprint model
    and ``hierarchy`` (default: the measured one, see ``tiler.hierarchy.default_hierarchy``).
    ``tile=False`` regenerates code without tiling. ``preprocessor`` (None: read the text as
    it is) gives each region as the compiler will see it; ``parameter_values`` are sizes for
    the cost model (``--param N=4000``), over those the preprocessor knows. ``decide``: with
    the model's sizes, leave a band alone when tiling it is not predicted to pay.
    ``line_markers`` puts ``#line`` markers around each replaced region, so the compiler
    names the original lines."""

    tile_sizes: tuple[int, ...] | None = None
    hierarchy: Hierarchy | None = None
    default_size: int = DEFAULT_TILE_SIZE
    tile: bool = True
    parallel: bool = False
    preprocessor: Preprocessor | None = DEFAULT_PREPROCESSOR
    parameter_values: tuple[tuple[str, int], ...] = ()
    decide: bool = True
    line_markers: bool = False
    # Register tiles (see tiler.transform.register): on by default; ``micro_tile`` fixes
    # Mr x Nr, ``target`` the vector unit (default: the one ``cc -O3 -march=native`` builds for).
    register_tiles: bool = True
    micro_tile: tuple[int, int] | None = None
    # Packed panels of a micro-kernel's broadcast operands (see tiler.transform.panel): on
    # by default, ``pack=False`` (``--no-pack``) leaves the operands where they are.
    pack: bool = True
    # One innermost point loop per statement where a tile runs several in one body (see
    # tiler.transform.distribution), where legal: on by default, ``--no-distribute`` keeps
    # the body fused.
    distribute: bool = True
    target: Target | None = None


@dataclass(frozen=True)
class RegionReport:
    """What happened to one region."""

    line: int                      # line of its '#pragma scop'
    statements: int
    tiled: bool
    schedule: str                  # which order the code follows: original, isl, isl-nofuse
    bands: tuple[TiledBand, ...]
    note: str
    seconds: float
    parameter_values: dict = field(default_factory=dict)   # what the cost model took
    expanded_macros: tuple[str, ...] = ()                   # macros seen through
    assumed: tuple[str, ...] = ()      # parameters and functions defined nowhere seen


@dataclass(frozen=True)
class TileResult:
    """The new text of the file, a report per region and the preprocessor's warnings."""

    text: str
    regions: tuple[RegionReport, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = ()


def _planner(scop: Scop, options: TileOptions, verdicts: list[Verdict] | None = None,
             fused: list[bool] | None = None) -> Planner:
    """Return the function that plans the tiling of each band of ``scop``. With the model's
    sizes, a band no loop encloses is left alone (all sizes 1) when tiling it is not
    predicted to pay against the source's own nests (``tiler.decide``); each such judgement
    is added to ``verdicts``, and ``fused`` gets an entry for each band whose statements have
    no vector code together (see ``_unfused_for_vectors``)."""
    given = list(options.tile_sizes or ())
    sources: dict = {}
    merged_sources: dict = {}
    paths = loop_paths(scop)

    def target() -> Target:
        # the compiler's target for the user's flags, asked once (cached) and only if needed
        return options.target or detect_target()

    def source_shapes(shape) -> dict:
        if not sources:
            sources.update({statement.name: statement_shape(scop, statement,
                                                            scop.parameter_values,
                                                            scop.element_bytes)
                            for statement in scop.statements})
        # the band's statements that the source runs in the same loops, as one nest
        nests: dict = {}
        for name in shape.statements:
            own = sources[name]
            nests.setdefault((paths[name], own.trip_counts), []).append(own)
        merged = []
        for nest in nests.values():
            if len(nest) > 1:
                key = tuple(own.statements[0] for own in nest)
                if key not in merged_sources:       # the same nest, seen from another band
                    merged_sources[key] = merged_shape(nest)
                nest = [merged_sources[key]]
            merged.append(nest[0])
        return {name: own for own in merged for name in own.statements}

    def plan(band: isl.ScheduleNode) -> TilePlan:
        members = band.band_n_member()
        shape = band_shape(scop, band, scop.parameter_values, scop.element_bytes)
        if given:
            sizes = tuple((given + [options.default_size] * members)[:members])
            planned = noted(with_micro(TilePlan((sizes,), point_order(shape)), band, shape))
            # predicted for the report and the model's check, never to override the sizes
            # (and without probing: only for a hierarchy given)
            if options.hierarchy is None or not judged(band, shape):
                return planned
            return replace(planned, verdict=predict(shape, planned, options.hierarchy))
        hierarchy = options.hierarchy or default_hierarchy()
        choice = choose_tile_sizes(shape, hierarchy)
        innermost = choice.point_order[-1]
        limit = chain_limit(shape, innermost, hierarchy,
                            target().loop_vector(), options.distribute)
        if limit is not None and choice.sizes[innermost] > limit:
            choice = choose_tile_sizes(shape, hierarchy, innermost_limit=limit)
        levels = ((choice.outer_sizes,) if choice.outer_sizes else ()) + (choice.sizes,)
        planned = noted(with_micro(TilePlan(levels, choice.point_order, choice), band, shape))
        if not judged(band, shape):
            return planned
        verdict = predict(shape, planned, hierarchy)
        # The alternatives, priced by the same model: PLUTO's and Polly's cube of 32 (shown in
        # the report, never taken: the model ranks sizes less well than it decides), and for
        # plain point loops of enough members each innermost member, where the innermost one
        # decides vector code and whether a reduction chains every instance to the one before.
        cube = with_micro(TilePlan(((options.default_size,) * members,), point_order(shape)),
                          band, shape, resize=False)
        runner_up = ("x".join([str(options.default_size)] * members),
                     predict(shape, cube, hierarchy).tiled_ns)
        if planned.micro is None and members >= REORDER_MEMBERS:
            for member in range(members):
                order = tuple(k for k in planned.point_order if k != member) + (member,)
                if order == planned.point_order:
                    continue
                other = predict(shape, replace(planned, point_order=order), hierarchy)
                if other.tiled_ns * REORDER_MARGIN < verdict.tiled_ns:
                    label = "point order " + ", ".join(map(str, planned.point_order))
                    runner_up = min(runner_up, (label, verdict.tiled_ns), key=lambda r: r[1])
                    planned, verdict = replace(planned, point_order=order), other
        if options.parallel and len(planned.levels) == 1:
            shared = _parallel_sizes(band, shape, planned)
            if shared != planned.levels[-1]:
                planned = noted(with_micro(replace(planned, levels=(shared,)), band, shape,
                                           resize=False))
                verdict = predict(shape, planned, hierarchy)
        planned = replace(planned, runner_up=runner_up)
        if verdicts is not None:
            verdicts.append(verdict)
        if options.decide and not verdict.worth_tiling:
            return TilePlan(((1,) * members,), tuple(range(members)), verdict,
                            micro_note=planned.micro_note)
        return replace(planned, verdict=verdict)

    def judged(band: isl.ScheduleNode, shape) -> bool:
        # A band at the top of the region is judged, and a skewed one anywhere. Inside a
        # sequential loop, tiling a band of the source's own loops also changes what the
        # compiler vectorises across the enclosing loop's iterations (Floyd-Warshall's band
        # inside its k loop: 4.4x faster tiled, for no change in memory traffic), which the
        # model does not see; a skewed band loses the source's vector code wherever it is.
        return band.get_schedule_depth() == 0 or shape.skewed

    def predict(shape, planned: TilePlan, hierarchy: Hierarchy) -> Verdict:
        # with ``distribute``, a body that reads what another statement wrote a few
        # iterations before runs one loop per statement (checked for legality later)
        code = Code(planned.point_order[-1], target().loop_vector(), planned.micro,
                    split=options.distribute)
        return judge(shape, planned.levels[-1], planned.point_order, hierarchy, code,
                     source_shapes(shape))

    def noted(tile_plan: TilePlan) -> TilePlan:
        if FUSED_NOTE in tile_plan.micro_note and fused is not None:
            fused.append(True)
        return tile_plan

    def with_micro(tile_plan: TilePlan, band: isl.ScheduleNode, shape,
                   resize: bool = True) -> TilePlan:
        if not options.register_tiles:
            return tile_plan
        kernel = plan_micro_kernel(scop, band, shape, tile_plan.levels[-1],
                                   tile_plan.point_order, target(),
                                   options.micro_tile, options.pack,
                                   fit_sizes=bool(given) or not resize)
        if isinstance(kernel, str):
            return replace(tile_plan, micro_note=kernel)
        if not given and resize:
            # The micro-kernel decides the sizes around it (tiler.tilesize).
            sizes = micro_kernel_sizes(shape, tile_plan.levels[-1], kernel.rows,
                                       kernel.vector, kernel.reduction, kernel.mr, kernel.nr,
                                       options.hierarchy or default_hierarchy())
            resized = plan_micro_kernel(scop, band, shape, sizes, tile_plan.point_order,
                                        target(), options.micro_tile, options.pack)
            if not isinstance(resized, str):
                details = choose_tile_sizes(shape, options.hierarchy or default_hierarchy(),
                                            only=sizes)
                return replace(tile_plan, levels=(sizes,), micro=resized, details=details)
        return replace(tile_plan, micro=kernel)
    return plan


# With --parallel, the loop marked parallel gets at least this many tiles per processor of
# the machine that tiles (the one the probe measured), so that its threads share them: the
# model sizes tiles for one core's caches, and gemm's tile of all 1200 rows left the parallel
# loop one iteration. On 2 threads gemm ran 71 ms in 1 tile, 40 ms in 2, 41 ms in 4, 43 ms
# in 8 (on 1 thread, 8 tiles cost 1.5x: each repacks its block of B); two a processor
# leaves room to balance uneven tiles (a triangle's).
PARALLEL_TILES_PER_PROCESSOR = 2


def _processors() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _parallel_sizes(band: isl.ScheduleNode, shape, planned: TilePlan) -> tuple[int, ...]:
    """Return the plan's sizes with the member whose tile loop ``tile_schedule`` will mark
    parallel (the first coincident one, in the order of the tile loops) cut into at least
    ``PARALLEL_TILES_PER_PROCESSOR`` tiles a processor, in whole micro-tiles where it is the
    micro-tile's rows member."""
    sizes = list(planned.levels[-1])
    micro = planned.micro
    coincident = [m for m in tile_loop_order(len(sizes), micro)
                  if band.band_member_get_coincident(m)]
    if not coincident:
        return tuple(sizes)
    member = coincident[0]
    trip = int(shape.trip_counts[member])
    size = -(-trip // (PARALLEL_TILES_PER_PROCESSOR * _processors()))
    if micro is not None and member == micro.rows:
        size = -(-size // micro.mr) * micro.mr
    sizes[member] = max(1, min(sizes[member], size))
    return tuple(sizes)


def _choose_schedule(scop: Scop, deps: isl.UnionMap, live_ranges: tuple[LiveRanges, ...] = (),
                     computed: dict | None = None) -> tuple[isl.Schedule, str]:
    """Return the schedule to tile and its name: the one that exposes the most tileable loops
    among the original order, isl's scheduler, and isl's scheduler without fusion; ties go to
    the earlier one (the original order keeps the programmer's loop order). A schedule whose
    innermost loops walk memory worse than the original's (weighted by statement instances)
    is not taken: the innermost loop decides vectorisation, which tiling cannot make up for;
    nor is one that lets the ``live_ranges`` of a scalar overlap (isl's scheduler does not see
    them: it may put a scalar's writes in one loop and its reads in another). The search
    stops at the first schedule that puts every loop of every statement in a tileable band."""
    ceiling = sum(len(statement.iterators) for statement in scop.statements)
    original = original_schedule(scop, deps)
    baseline = innermost_stride_score(scop, original)
    best, best_name, best_score = original, "original", tileability(original)
    if best_score >= ceiling:
        return best, best_name
    names = ("isl", "isl-nofuse")
    if computed is not None and all(name in computed for name in names):
        candidates = [(name, computed[name]) for name in names]     # a retry: the same deps
    else:
        # both of isl's schedules at once (a child process each), within the scheduler's time
        candidates = list(zip(names, isl_schedules(scop, deps, (True, False))))
    if computed is not None:
        computed.update(candidates)
    for name, schedule in candidates:
        if best_score >= ceiling:
            break
        if schedule is None or tileability(schedule) <= best_score:
            continue
        if live_ranges and not live_ranges_intact(schedule.get_map(), live_ranges):
            continue
        if innermost_stride_score(scop, schedule) >= baseline - STRIDE_TOLERANCE:
            best, best_name, best_score = schedule, name, tileability(schedule)
    return best, best_name


# isl operations a region's analysis and tiling may take (counted afresh after isl's scheduler,
# which has a budget of its own): the examples need under 300,000; a few small nests of
# strided loops from the program generator need minutes (isl does 2 to 4 million operations a
# second, so the budget is 1-3 s). Past it the region is left as it is. A count, not a time,
# so the output does not depend on how busy the machine is.
REGION_MAX_OPERATIONS = 5_000_000
# isl's AST generation is not counted in that budget, and takes minutes on some tiled nests of
# strided loops: past this many seconds (in a child process) the region is left as it is.
CODEGEN_SECONDS = 6.0


def _transform(scop: Scop, deps: isl.UnionMap, live_ranges: tuple[LiveRanges, ...],
               memory: Deps, options: TileOptions, computed: dict | None = None
               ) -> tuple[isl.Schedule, str, list[TiledBand], list[Verdict]] | str:
    """Return the schedule to generate (its source and tiled bands) under ``deps`` and the
    scalars' ``live_ranges`` (see ``relax_scalar_dependences``), or why there is none. Loops
    marked parallel are checked against the ``memory``-based dependences (a scalar is shared
    between threads). ``computed`` holds isl's schedules for these ``deps`` once computed: a
    retry with other options reuses them."""
    computed = {} if computed is None else computed
    schedule, source = _choose_schedule(scop, deps, live_ranges, computed)
    bands: list[TiledBand] = []
    verdicts: list[Verdict] = []
    if options.tile:
        fused: list[bool] = []
        planner = _planner(scop, options, verdicts, fused)
        untiled = schedule
        schedule, bands = tile_schedule(untiled, planner, options.parallel)
        if source != "isl-nofuse" and fused:
            judged = len(verdicts)
            fused = source
            schedule, source, bands = _unfused_for_vectors(scop, deps, live_ranges, planner,
                                                           options, (schedule, source, bands),
                                                           computed)
            # keep the judgements of the schedule taken
            verdicts[:] = verdicts[judged:] if source != fused else verdicts[:judged]
        if bands and options.distribute:
            distributed, split = distribute_innermost(schedule, memory.flow)
            legal = bool(split) and is_legal(distributed, deps) \
                and live_ranges_intact(distributed.get_map(), live_ranges)
            if split and not legal:
                # the plans priced the split loops' vector code: plan again for the fused body
                retried = _transform(scop, deps, live_ranges, memory,
                                     replace(options, distribute=False), computed)
                if isinstance(retried, str):
                    return retried
                note = "kept fused: one loop per statement would break a dependence"
                return retried[0], retried[1], [
                    replace(band, distribution=note) if band.statements in split else band
                    for band in retried[2]], retried[3]
            if legal:
                schedule = distributed
                bands = [replace(band, distribution="one loop per statement")
                         if band.statements in split else band for band in bands]
        if not bands and verdicts:
            return "; ".join(verdict.reason for verdict in verdicts) + "; left unchanged"
        if not bands:
            return ("no tileable band (no two nested loops can be tiled together legally); "
                    "left unchanged")
    if not is_legal(schedule, deps) or not live_ranges_intact(schedule.get_map(), live_ranges):
        return "the tiled schedule would break a dependence; left unchanged"
    if not parallel_loops_are_legal(schedule, memory.all):
        return "a loop marked parallel would carry a dependence; left unchanged"
    # a micro-tile's vector code reads during its steps and stores at their end: a point
    # may read what another writes (an anti dependence), none may read what another wrote
    if not micro_kernels_are_legal(schedule, memory.flow.union(memory.output)):
        if options.register_tiles:
            retried = _transform(scop, deps, live_ranges, memory,
                                 replace(options, register_tiles=False), computed)
            if isinstance(retried, str):
                return retried
            note = "refused: two points of a micro-tile would depend on each other"
            return retried[0], retried[1], [replace(band, plan=replace(band.plan, micro_note=note))
                                            for band in retried[2]], retried[3]
        return "a micro-tile's points would depend on each other; left unchanged"
    if not panels_are_legal(schedule, scop):
        if options.pack:
            retried = _transform(scop, deps, live_ranges, memory, replace(options, pack=False),
                                 computed)
            if isinstance(retried, str):
                return retried
            note = "refused: the tile writes what a packed panel would hold"
            return retried[0], retried[1], [
                replace(band, plan=replace(band.plan, micro=replace(
                    band.plan.micro, panel_note=note))) if band.plan.micro else band
                for band in retried[2]], retried[3]
        return "a packed panel would hold values the tile writes; left unchanged"
    return schedule, source, bands, [v for v in verdicts if not v.worth_tiling]


# The reason ``plan_micro_kernel`` gives for a band of several statements; such a band (an
# initialisation fused with its reduction: gemm, syrk) has vector code without fusion.
FUSED_NOTE = "several statements in the band"


def _vector_kernels(bands: list[TiledBand]) -> int:
    return sum(1 for band in bands if band.plan.micro is not None and band.plan.micro.vectorised)


def _unfused_for_vectors(scop: Scop, deps: isl.UnionMap, live_ranges: tuple[LiveRanges, ...],
                         planner: Planner, options: TileOptions,
                         chosen: tuple[isl.Schedule, str, list[TiledBand]],
                         computed: dict) -> tuple[isl.Schedule, str, list[TiledBand]]:
    """Return isl's schedule without fusion (from ``computed`` when it is there), tiled, when
    it gives more micro-kernels vector code than ``chosen`` (whose bands fuse several
    statements), else ``chosen``."""
    unfused = computed["isl-nofuse"] if "isl-nofuse" in computed \
        else isl_schedule(scop, deps, fuse=False)
    if unfused is None or (live_ranges and not live_ranges_intact(unfused.get_map(),
                                                                  live_ranges)):
        return chosen
    tiled, bands = tile_schedule(unfused, planner, options.parallel)
    if _vector_kernels(bands) > _vector_kernels(chosen[2]):
        return tiled, "isl-nofuse", bands
    return chosen


def tile_region(text: str, first_line: int, taken_names: set[str], options: TileOptions,
                indent: str = "", view: RegionView | None = None
                ) -> tuple[str | None, RegionReport]:
    """Return the new text of one region (None: keep it as it is) and its report; ``view``
    is the region as the preprocessor gives it (None: ``text`` is what the compiler sees)."""
    started = time.perf_counter()
    pragma_line = first_line - 1
    expanded = view.expanded if view is not None else ()

    known: dict[str, int] = {}             # the parameter values, once the model has them

    def unchanged(note: str, statements: int = 0) -> tuple[None, RegionReport]:
        return None, RegionReport(pragma_line, statements, False, "original", (), note,
                                  time.perf_counter() - started, dict(known), expanded)

    if view is not None and view.skip_reason:
        return unchanged(f"{view.skip_reason}; left unchanged")
    context = _context(view, options)
    scop = build_scop(view.text if view is not None and view.text is not None else text,
                      first_line, context)
    if scop is None:
        return unchanged("region has no statement; left unchanged")
    known.update(scop.parameter_values)
    ctx = scop.statements[0].domain.get_ctx()
    previous_budget = ctx.get_max_operations()
    ctx.reset_operations()
    ctx.set_max_operations(REGION_MAX_OPERATIONS)
    try:
        order = original_schedule_map(scop)
        memory = compute_dependences(scop, order)
        relaxed = relax_scalar_dependences(scop, order)
        # Scalar temporaries' live ranges first (with parallel loops if asked, then without:
        # a scalar is shared between threads), then the plain memory-based dependences.
        attempts = [(memory.all, (), options)]
        if relaxed is not None:
            attempts[:0] = [(relaxed.deps, relaxed.live_ranges, options)] + (
                [(relaxed.deps, relaxed.live_ranges, replace(options, parallel=False))]
                if options.parallel else [])
        for deps, live_ranges, attempt_options in attempts:
            outcome = _transform(scop, deps, live_ranges, memory, attempt_options)
            if isinstance(outcome, tuple):
                break
        else:
            return unchanged(outcome, len(scop.statements))
        schedule, source, bands, left_alone = outcome
        try:
            code = generate_with_deadline(scop, schedule, taken_names, indent, CODEGEN_SECONDS)
        except DeadlineExceeded:
            return unchanged(f"generating the code of the tiled nest took longer than "
                             f"{CODEGEN_SECONDS:g} s; left unchanged", len(scop.statements))
    except isl.Error as error:
        if "maximal number of operations exceeded" in str(error):
            return unchanged(f"the analysis of this region needs more than "
                             f"{REGION_MAX_OPERATIONS:,} isl operations; left unchanged",
                             len(scop.statements))
        return unchanged(f"isl could not handle this region ({error}); left unchanged",
                         len(scop.statements))
    finally:
        ctx.set_max_operations(previous_budget)
        ctx.reset_operations()
    sizes = "; ".join("x".join(map(str, band.sizes)) for band in bands)
    note = f"tiled {len(bands)} band(s) [{sizes}] following the {source} order" if bands \
        else f"regenerated without tiling following the {source} order"
    if left_alone:
        note += (f"; {len(left_alone)} band(s) left untiled: "
                 + "; ".join(verdict.reason for verdict in left_alone))
    return code.text, RegionReport(pragma_line, len(scop.statements), bool(bands), source,
                                   tuple(bands), note, time.perf_counter() - started,
                                   dict(scop.parameter_values), expanded,
                                   _assumed(scop, context))


def _context(view: RegionView | None, options: TileOptions) -> RegionContext:
    """Return what the code around the region tells its model (``--param`` values over the
    preprocessor's constants)."""
    if view is None:
        return RegionContext(parameter_values=dict(options.parameter_values))
    values = dict(view.constants)
    values.update(options.parameter_values)
    return RegionContext(view.declarations, values, view.type_sizes)


def _assumed(scop: Scop, context: RegionContext) -> tuple[str, ...]:
    """Return the names declared nowhere the pass could see: parameters without a known value
    (unknown integers fixed during the region) and called functions (pure, to the model)."""
    unseen = [name for name in scop.parameters
              if context.declarations.type_of(name) is None and name not in scop.parameter_values]
    return tuple(unseen + [f"{name}()" for name in scop.functions
                           if context.declarations.type_of(name) is None])


def tile_source(text: str, filename: str | None = None,
                options: TileOptions = TileOptions()) -> TileResult:
    """Return ``text`` with every ``#pragma scop`` region tiled; everything else is kept
    byte for byte. Raises ``TilerError`` (located in ``filename``) for bad input."""
    try:
        regions = find_regions(text)
        taken = identifiers(text)
        seen = _preprocessed(text, filename, options, regions)
        pieces: list[str] = []
        reports: list[RegionReport] = []
        position = 0
        for region in regions:
            view = seen.regions.get(region.first_line - 1) if seen is not None else None
            if view is not None and view.text is not None:
                taken |= identifiers(view.text)
            try:
                new_text, report = tile_region(text[region.start:region.end],
                                               region.first_line, taken, options,
                                               region.indent, view)
            except TilerError as error:
                if seen is None or not seen.missing_headers:
                    raise
                raise TilerError(f"{error.message} (not found: "
                                 f"{', '.join(seen.missing_headers)}; pass -I DIR as to the "
                                 "compiler)", error.line, error.column, error.filename) from None
            reports.append(report)
            if new_text is not None:
                if options.line_markers:
                    new_text = _between_line_markers(new_text, region.first_line,
                                                     text.count("\n", 0, region.end) + 1,
                                                     filename or "<input>")
                pieces += [text[position:region.start], new_text]
                position = region.end
        pieces.append(text[position:])
        return TileResult("".join(pieces), tuple(reports),
                          seen.warnings if seen is not None else ())
    except TilerError as error:
        raise error.with_filename(filename) if filename else error


def _preprocessed(text: str, filename: str | None, options: TileOptions,
                  regions: list) -> PreprocessedFile | None:
    """Return the preprocessor's view of the file's regions (None without a preprocessor or
    without regions)."""
    if options.preprocessor is None or not regions:
        return None
    pragma_lines = [(region.first_line - 1, text.count("\n", 0, region.end) + 1)
                    for region in regions]
    return preprocess(text, filename or "<stdin>", options.preprocessor, pragma_lines)


def _between_line_markers(code: str, first_line: int, next_line: int, filename: str) -> str:
    """Return the generated ``code`` of a region after a ``#line`` marker naming the region's
    first line, followed by one that gives the text after it its original line again."""
    name = filename.replace("\\", "\\\\").replace('"', '\\"')
    ending = "" if code.endswith("\n") or not code else "\n"
    return (f'#line {first_line} "{name}"\n{code}{ending}'
            f'#line {next_line} "{name}"\n')


def read_source(path: str | Path) -> str:
    """Return the text of a C file (bytes that are not UTF-8 are kept as they are)."""
    try:
        return Path(path).read_bytes().decode("utf-8", errors="surrogateescape")
    except OSError as error:
        raise TilerError(f"cannot read '{path}': {error.strerror}", filename=str(path)) from None


def tile_file(path: str | Path, output: str | Path | None = None,
              options: TileOptions = TileOptions()) -> TileResult:
    """Tile the file at ``path`` and write the result to ``output`` (default: beside it)."""
    result = tile_source(read_source(path), str(path), options)
    write_atomically(output or default_output_path(path), result.text)
    return result
