"""``tiler bench``: the original, the model's tiling, 32 everywhere, an auto-tuned tiling and
Polly, timed side by side in one run on the user's kernel and machine.

The command line hooks into ``tiler.cli`` through ``add_bench_arguments(parser)`` and
``run_bench_command(args)``; the Python API is ``bench_kernels(paths, BenchSettings(...),
workdir)``, whose ``SuiteResult`` ``tiler.bench.report`` turns into a table, JSON and a plot.
"""

from tiler.bench.command import add_bench_arguments, run_bench_command
from tiler.bench.harness import BenchSettings, bench_kernels
from tiler.bench.report import describe_suite, suite_to_dict
from tiler.bench.results import KernelResult, SuiteResult

__all__ = ["BenchSettings", "KernelResult", "SuiteResult", "add_bench_arguments",
           "bench_kernels", "describe_suite", "run_bench_command", "suite_to_dict"]
