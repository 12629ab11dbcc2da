"""``tiler qmoe compress``, ``run`` and ``bench``: thin calls into ``tiler.qmoe``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from tiler.errors import TilerError
from tiler.qmoe.format import DEFAULT_ZERO_FRACTION, compress, save_compressed
from tiler.qmoe.layer import (
    ACTIVATIONS,
    DEFAULT_ACTIVATION,
    DEFAULT_CAPACITY_FACTOR,
    DEFAULT_TOP_K,
    TOP_K_CHOICES,
    checked_tokens,
)
from tiler.qmoe.matrices import load_matrices


def add_qmoe_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``compress``, ``run`` and ``bench`` subcommands to the ``qmoe`` parser."""
    commands = parser.add_subparsers(dest="qmoe_command", required=True, metavar="COMMAND")
    packer = commands.add_parser("compress", help="compress an MoE layer (or any weight "
                                 "matrices) to sub-1-bit QMoE")
    packer.add_argument("input", metavar="IN",
                        help="a .safetensors MoE layer (Hugging Face Switch or short names), "
                        "or a .npy matrix / .safetensors of any 2-D float tensors")
    packer.add_argument("output", metavar="OUT", help="the compressed file (.qmoe for a layer)")
    packer.add_argument("--zero-fraction", type=float, default=DEFAULT_ZERO_FRACTION,
                        help=f"share of each row rounded to 0 (default {DEFAULT_ZERO_FRACTION})")
    packer.add_argument("--layer", metavar="PREFIX",
                        help="the layer in Switch naming: PREFIX.mlp.router.classifier.weight")
    packer.add_argument("--calibration", metavar="TOKENS.npy",
                        help="float32 [n, d_model] inputs of the layer, for GPTQ")
    packer.add_argument("--method", choices=("gptq", "rtn"),
                        help="GPTQ (default with --calibration) or round-to-nearest")
    packer.add_argument("--activation", choices=ACTIVATIONS, default=DEFAULT_ACTIVATION,
                        help=f"the experts' activation (default {DEFAULT_ACTIVATION})")
    packer.add_argument("--top-k", type=int, choices=TOP_K_CHOICES, default=DEFAULT_TOP_K,
                        help=f"experts per token (default {DEFAULT_TOP_K})")
    packer.add_argument("--capacity-factor", type=float, default=DEFAULT_CAPACITY_FACTOR,
                        help=f"expert capacity factor (default {DEFAULT_CAPACITY_FACTOR})")
    runner = commands.add_parser("run", help="run a compressed MoE layer on tokens")
    runner.add_argument("checkpoint", metavar="CHECKPOINT.qmoe")
    runner.add_argument("--tokens", metavar="X.npy", required=True,
                        help="float32 [T, d_model] inputs")
    runner.add_argument("--out", metavar="Y.npy", required=True, help="float32 [T, d_model]")
    runner.add_argument("--threads", type=int, default=1, help="kernel threads (default 1)")
    bench = commands.add_parser("bench", help="time the decoding kernels against dense BLAS")
    bench.add_argument("--quick", action="store_true", help="T in {1, 32}, 4 experts, short runs")
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    bench.add_argument("--experts", type=int, help="experts of the routed step (default 16)")
    bench.add_argument("--tile-sizes", metavar="N,N,N",
                       help="tile sizes for the tiled kernel (default: the tiler's model)")
    bench.add_argument("--no-autotune", action="store_true",
                       help="leave out the auto-tuned variant (and its search)")
    bench.add_argument("--layer", action="store_true",
                       help="instead: a whole 8-expert Switch layer run from its checkpoint, "
                       "1 and 2 threads, against dense numpy, with peak memory")
    bench.add_argument("--no-gptq", action="store_true",
                       help="with --layer: round to nearest only (times the same kernels "
                       "without GPTQ's minutes)")


def run_qmoe_command(args: argparse.Namespace) -> int:
    """Run ``tiler qmoe``; return the exit code (errors raise ``TilerError``)."""
    if args.qmoe_command == "compress":
        return _compress(args)
    if args.qmoe_command == "run":
        return _run(Path(args.checkpoint), Path(args.tokens), Path(args.out), args.threads)
    if args.layer:
        from tiler.qmoe.layer_bench import format_layer_report, run_layer_bench
        report = run_layer_bench(args.quick, gptq=not args.no_gptq)
        print(json.dumps(report, indent=2) if args.json else format_layer_report(report))
        return 0 if report["all_ok"] else 1
    from tiler.qmoe.bench import format_report, parse_tile_sizes, run_bench
    if args.experts is not None and args.experts < 1:
        raise TilerError(f"--experts must be at least 1, got {args.experts}")
    sizes = parse_tile_sizes(args.tile_sizes) if args.tile_sizes else None
    report = run_bench(args.quick, sizes, args.experts, autotune=not args.no_autotune)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0 if report["all_ok"] else 1


def load_tokens(path: Path, model_width: int, what: str = "tokens") -> np.ndarray:
    """Return the float32[T, model_width] tokens of the ``.npy`` file at ``path``."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise TilerError(f"no such file '{path}'", filename=str(path)) from None
    except (OSError, ValueError, EOFError) as error:
        raise TilerError(f"not a readable .npy file: {error}", filename=str(path)) from None
    try:
        return checked_tokens(array, model_width, what)
    except TilerError as error:
        raise error.with_filename(str(path)) from None


def save_array(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to the ``.npy`` file ``path`` atomically (nothing left on failure)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(temporary, "wb") as stream:
            np.save(stream, array)
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise TilerError(f"cannot write '{path}': {error.strerror}", filename=str(path)) from None


def _run(checkpoint_path: Path, tokens_path: Path, output: Path, threads: int) -> int:
    from tiler.qmoe.checkpoint import load_checkpoint
    from tiler.qmoe.runner import LayerRunner
    if threads < 1:
        raise TilerError(f"--threads must be at least 1, got {threads}")
    checkpoint = load_checkpoint(checkpoint_path)
    tokens = load_tokens(tokens_path, checkpoint.config.model_width)
    runner = LayerRunner(checkpoint, threads=threads)
    if not runner.kernels.tiled:
        print(f"{checkpoint_path}: note: the batched kernel runs untiled: "
              f"{runner.kernels.note}", file=sys.stderr)
    save_array(output, runner.forward(tokens))
    return 0


def _compress(args: argparse.Namespace) -> int:
    source, target = Path(args.input), Path(args.output)
    from tiler.qmoe.checkpoint import is_layer_file
    if source.suffix.lower() == ".safetensors" and is_layer_file(source, args.layer):
        return _compress_layer(args, source, target)
    if args.layer or args.calibration or args.method == "gptq":
        raise TilerError("no MoE layer in the file (no 'router.weight' nor "
                         "'PREFIX.mlp.router.classifier.weight'): --layer, --calibration and "
                         "--method gptq need one", filename=str(source))
    matrices = load_matrices(source)
    model = compress(matrices, args.zero_fraction)
    save_compressed(target, model)
    _print_sizes(model, target)
    return 0


def _compress_layer(args: argparse.Namespace, source: Path, target: Path) -> int:
    from tiler.qmoe.calibrate import compress_layer
    from tiler.qmoe.checkpoint import read_dense_layer, save_checkpoint
    layer = read_dense_layer(source, args.layer, args.activation, args.top_k,
                             args.capacity_factor)
    method = args.method or ("gptq" if args.calibration else "rtn")
    calibration = None
    if args.calibration:
        calibration = load_tokens(Path(args.calibration), layer.config.model_width,
                                  "calibration tokens")
    if method == "gptq" and calibration is None:
        raise TilerError("--method gptq needs calibration tokens (--calibration TOKENS.npy)",
                         filename=str(source))
    compressed = compress_layer(layer, method, calibration, args.zero_fraction)
    save_checkpoint(target, compressed.checkpoint)
    for note in compressed.notes:
        print(f"{source}: note: {note}")
    config = layer.config
    print(f"{config.experts} experts, d_model {config.model_width}, d_ff {config.hidden_width}, "
          f"{config.activation}, top-{config.top_k}; experts by "
          f"{', '.join(sorted(set(compressed.methods)))}")
    _print_sizes(compressed.checkpoint.model, target)
    return 0


def _print_sizes(model, target: Path) -> None:
    weights = bits = 0
    for name, layer in model.layers.items():
        print(f"{name}: {layer.rows}x{layer.columns}, {layer.bits_per_weight():.3f} bits/weight")
        weights += layer.rows * layer.columns
        bits += layer.stored_bits()
    print(f"{len(model.layers)} matrices, {weights} weights: {bits / weights:.3f} bits/weight "
          f"(+{3 * model.dictionary.size} bytes of dictionary) in {target}")
