"""``tiler qmoe compress IN OUT`` and ``tiler qmoe bench``: thin calls into ``tiler.qmoe``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tiler.errors import TilerError
from tiler.qmoe.format import DEFAULT_ZERO_FRACTION, compress, save_compressed
from tiler.qmoe.matrices import load_matrices


def add_qmoe_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``compress`` and ``bench`` subcommands to the ``qmoe`` parser."""
    commands = parser.add_subparsers(dest="qmoe_command", required=True, metavar="COMMAND")
    packer = commands.add_parser("compress", help="compress weight matrices to sub-1-bit QMoE")
    packer.add_argument("input", metavar="IN",
                        help="a .npy matrix or a .safetensors file (every 2-D float tensor)")
    packer.add_argument("output", metavar="OUT", help="the compressed file (.npz)")
    packer.add_argument("--zero-fraction", type=float, default=DEFAULT_ZERO_FRACTION,
                        help=f"share of each row rounded to 0 (default {DEFAULT_ZERO_FRACTION})")
    bench = commands.add_parser("bench", help="time the decoding kernels against dense BLAS")
    bench.add_argument("--quick", action="store_true", help="T in {1, 32}, 4 experts, short runs")
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    bench.add_argument("--experts", type=int, help="experts of the routed step (default 16)")
    bench.add_argument("--tile-sizes", metavar="N,N,N",
                       help="tile sizes for the tiled kernel (default: the tiler's model)")
    bench.add_argument("--no-autotune", action="store_true",
                       help="leave out the auto-tuned variant (and its search)")


def run_qmoe_command(args: argparse.Namespace) -> int:
    """Run ``tiler qmoe``; return the exit code (errors raise ``TilerError``)."""
    if args.qmoe_command == "compress":
        return _compress(Path(args.input), Path(args.output), args.zero_fraction)
    from tiler.qmoe.bench import format_report, parse_tile_sizes, run_bench
    if args.experts is not None and args.experts < 1:
        raise TilerError(f"--experts must be at least 1, got {args.experts}")
    sizes = parse_tile_sizes(args.tile_sizes) if args.tile_sizes else None
    report = run_bench(args.quick, sizes, args.experts, autotune=not args.no_autotune)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0 if report["all_ok"] else 1


def _compress(source: Path, target: Path, zero_fraction: float) -> int:
    matrices = load_matrices(source)
    model = compress(matrices, zero_fraction)
    save_compressed(target, model)
    weights = bits = 0
    for name, layer in model.layers.items():
        print(f"{name}: {layer.rows}x{layer.columns}, {layer.bits_per_weight():.3f} bits/weight")
        weights += layer.rows * layer.columns
        bits += layer.stored_bits()
    print(f"{len(model.layers)} matrices, {weights} weights: {bits / weights:.3f} bits/weight "
          f"(+{3 * model.dictionary.size} bytes of dictionary) in {target}")
    return 0
