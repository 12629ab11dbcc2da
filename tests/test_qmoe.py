"""QMoE: the format round-trips exactly, the dictionary is what the format says, the rate is
sub-1-bit on realistic weights, the C kernels agree with the dense product, and every bad file
or matrix is refused with TilerError."""

from __future__ import annotations

import argparse
import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiler.errors import TilerError
from tiler.qmoe import (
    CompressedModel,
    TernaryMatrix,
    build_dictionary,
    compress,
    decode_ternary,
    encode,
    kernel_source,
    load_compressed,
    load_kernels,
    load_matrix,
    prepare_layer,
    quantise_ternary,
    reference_product,
    save_compressed,
    save_safetensors,
    synthetic_expert_weights,
)
from tiler.qmoe.cli import add_qmoe_arguments, run_qmoe_command
from tiler.qmoe.dictionary import (
    DICTIONARY_SIZE,
    MAX_WORD_NONZEROS,
    MAX_WORD_PAIRS,
    iid_pair_probabilities,
)
from tiler.qmoe.format import bf16_values, pair_symbols

# Shapes with widths that are odd, below one word, and not multiples of 28 weights.
SHAPES = [(1, 1), (2, 3), (5, 29), (13, 100), (8, 333), (40, 1001)]


@pytest.fixture(scope="session")
def dictionary():
    """The 2^16-word dictionary for i.i.d. weights with QMoE's 88.5 % zeros (built once)."""
    return build_dictionary(iid_pair_probabilities())


@pytest.fixture(scope="session")
def kernels():
    """The packaged kernels, compiled once."""
    return load_kernels()


def _weights(rows: int, columns: int, seed: int = 0) -> np.ndarray:
    return synthetic_expert_weights(rows, columns, seed)


def _model(dictionary, rows: int = 12, columns: int = 61, seed: int = 0) -> CompressedModel:
    ternary = quantise_ternary(_weights(rows, columns, seed))
    return CompressedModel(dictionary, {"w": encode(ternary, dictionary)})


# --- the dictionary ----------------------------------------------------------------------------

def test_dictionary_has_2_16_prefix_closed_words(dictionary):
    assert dictionary.size == DICTIONARY_SIZE
    lengths = dictionary.lengths.astype(int)
    assert lengths[0] == 0 and lengths[1:].min() >= 1 and lengths.max() == MAX_WORD_PAIRS
    words = {tuple(dictionary.pairs[i, :lengths[i]]) for i in range(dictionary.size)}
    assert len(words) == DICTIONARY_SIZE                                  # no word twice
    assert all(word[:-1] in words for word in words if word)              # prefix-closed
    assert {(s,) for s in range(9)} <= words                              # every pair parses
    assert dictionary.nonzeros().max() <= MAX_WORD_NONZEROS


def test_dictionary_covers_many_weights_per_code(dictionary):
    # Tunstall: the expected pairs per code under the model it was built for.
    probabilities = np.log(iid_pair_probabilities())
    mask = np.arange(MAX_WORD_PAIRS)[None, :] < dictionary.lengths[:, None]
    word_probability = np.exp((probabilities[dictionary.pairs] * mask).sum(axis=1))
    internal = np.zeros(dictionary.size, dtype=bool)
    internal[dictionary.parent[1:]] = True
    assert word_probability[internal].sum() > 10.5                        # > 21 weights/code


# --- quantisation and round trip ---------------------------------------------------------------

def test_quantise_follows_the_ternary_rule():
    weights = _weights(30, 500)
    ternary = quantise_ternary(weights)
    lo, hi = bf16_values(ternary.lo_bits)[:, None], bf16_values(ternary.hi_bits)[:, None]
    expected = np.where(weights > hi / 2, 1, np.where(weights < lo / 2, -1, 0))
    assert np.array_equal(ternary.digits, expected)
    assert (lo <= 0).all() and (hi >= 0).all()
    assert abs((ternary.digits == 0).mean() - 0.885) < 0.01
    values = ternary.values()
    assert set(np.unique(values[3])) <= {0.0, float(lo[3, 0]), float(hi[3, 0])}


@pytest.mark.parametrize("shape", SHAPES)
def test_round_trip_is_exact(dictionary, shape):
    ternary = quantise_ternary(_weights(*shape))
    decoded = decode_ternary(encode(ternary, dictionary), dictionary)
    assert np.array_equal(decoded.digits, ternary.digits)
    assert np.array_equal(decoded.values(), ternary.values())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(1, 6), columns=st.integers(1, 90), density=st.floats(0.0, 1.0),
       seed=st.integers(0, 2**32 - 1))
def test_round_trip_of_any_ternary_matrix(dictionary, rows, columns, density, seed):
    generator = np.random.default_rng(seed)
    digits = (generator.random((rows, columns)) < density) * generator.choice([-1, 1],
                                                                              (rows, columns))
    scales = np.full(rows, 0x3F80, dtype=np.uint16)
    ternary = TernaryMatrix(digits.astype(np.int8), scales | 0x8000, scales)
    decoded = decode_ternary(encode(ternary, dictionary), dictionary)
    assert np.array_equal(decoded.digits, ternary.digits)


def test_stream_ending_inside_a_word(dictionary):
    # 31 zero weights: 16 pairs, one 14-pair word of zeros and a 2-pair rest, which is a prefix.
    ternary = quantise_ternary(np.zeros((2, 31), dtype=np.float32))
    layer = encode(ternary, dictionary)
    assert list(dictionary.lengths[layer.codes[:2]]) == [14, 2]
    assert np.array_equal(decode_ternary(layer, dictionary).digits, ternary.digits)


# --- rate ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(256, 3072), (1024, 768)])
def test_bits_per_weight_below_0_85_on_realistic_weights(shape):
    model = compress({"w": _weights(*shape, seed=7)})
    layer = model.layers["w"]
    assert layer.bits_per_weight() <= 0.85
    assert prepare_layer(layer, model.dictionary).padded_bits_per_weight() <= 0.85


# --- kernels -------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("tokens", [1, 3, 17, 32])
def test_kernels_match_the_dense_product(dictionary, kernels, shape, tokens):
    model = _model(dictionary, *shape, seed=tokens)
    layer = model.layers["w"]
    prepared = prepare_layer(layer, dictionary)
    x = np.random.default_rng(tokens).standard_normal((tokens, shape[1])).astype(np.float32)
    expected = reference_product(layer, dictionary, x)
    scale = np.abs(decode_ternary(layer, dictionary).values()).astype(np.float64) \
        @ np.abs(x.T).astype(np.float64)
    tolerance = 1e-5 * scale.T + 1e-30
    assert (np.abs(kernels.matmat(prepared, x) - expected) <= tolerance).all()
    assert (np.abs(kernels.matvec(prepared, x[0]) - expected[0]) <= tolerance[0]).all()
    assert (np.abs(kernels.apply(prepared, x) - expected) <= tolerance).all()


@pytest.mark.parametrize("sizes", [None, (8, 8, 8), (3, 5, 700)], ids=["model", "8", "odd"])
def test_tiled_kernel_matches_the_dense_product(dictionary, sizes):
    from tiler.qmoe.native import tiled_matmat_source
    source = tiled_matmat_source(sizes)
    assert source.tiled and source.text != kernel_source("decode_matmat.c") \
        and "S1(" in source.text
    tiled = load_kernels(source.text)
    model = _model(dictionary, 37, 333)
    layer = model.layers["w"]
    x = np.random.default_rng(1).standard_normal((21, 333)).astype(np.float32)
    np.testing.assert_allclose(tiled.matmat(prepare_layer(layer, dictionary), x),
                               reference_product(layer, dictionary, x), rtol=1e-4, atol=1e-4)


def test_model_tiles_the_token_loop_innermost():
    """The decoding of a word is shared by a tile of tokens only when the token loop is the
    innermost point loop (the compiler then hoists the decoding out of it)."""
    from tiler.pipeline import TileOptions, tile_source
    result = tile_source(kernel_source("decode_matmat.c"), "decode_matmat.c", TileOptions())
    # Members of the product's band: rows, tokens, words. (The prefix sum of the code
    # lengths before it has nothing to reuse: the model leaves it as it is.)
    (band,) = [band for band in result.regions[0].bands if band.statements == ("S1",)]
    assert band.plan.point_order[-1] == 1, result.regions[0].note


def test_bench_json_reports_every_variant_checked(capsys):
    from tiler.cli import main
    assert main(["qmoe", "bench", "--quick", "--experts", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 0.5 < report["bits_per_weight"] < 0.85
    rows = report["measurements"] + report["moe"]["measurements"]
    assert {row["variant"] for row in rows} >= {"dense", "matvec", "untiled", "tiled",
                                                "autotuned"}
    assert {row["T"] for row in rows} == {1, 32}
    assert all(row["ok"] and row["tokens_per_s"] > 0 for row in rows)
    assert report["memory"]["fp32_bytes"] == 2 * report["memory"]["bf16_bytes"]
    assert len(report["tuning"]) == 2


# --- the file --------------------------------------------------------------------------------

def _arrays(path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}


def test_save_load_round_trip(dictionary, tmp_path):
    model = _model(dictionary)
    save_compressed(tmp_path / "m.npz", model)
    loaded = load_compressed(tmp_path / "m.npz")
    assert list(loaded.layers) == ["w"]
    assert np.array_equal(decode_ternary(loaded.layers["w"], loaded.dictionary).values(),
                          decode_ternary(model.layers["w"], dictionary).values())


def _corrupt_wrong_magic(a):
    a["magic"] = np.frombuffer(b"NOTQMOE!", dtype=np.uint8)


def _corrupt_version(a):
    a["version"] = np.array([99], dtype=np.uint32)


def _corrupt_offset_beyond_codes(a):
    a["layer0.offsets"][-1] += 5


def _corrupt_offsets_out_of_order(a):
    a["layer0.offsets"][2], a["layer0.offsets"][3] = a["layer0.offsets"][3], a["layer0.offsets"][2]


def _corrupt_code_beyond_dictionary(a):
    a["dictionary.parent"] = a["dictionary.parent"][:1000]
    a["dictionary.symbol"] = a["dictionary.symbol"][:1000]
    a["layer0.codes"][0] = 2000


def _corrupt_filler_in_stream(a):
    a["layer0.codes"][0] = 0


def _corrupt_row_length(a):
    a["layer0.codes"][0] = 1 if a["layer0.codes"][0] != 1 else 100


def _corrupt_offsets_dtype(a):
    a["layer0.offsets"] = a["layer0.offsets"].astype(np.int64)


def _corrupt_missing_codes(a):
    del a["layer0.codes"]


def _corrupt_scale_nan(a):
    a["layer0.hi"][0] = 0x7FC0


def _corrupt_scale_sign(a):
    a["layer0.lo"][0] = 0x3F80                                            # lo = +1


def _corrupt_dictionary_cycle(a):
    a["dictionary.parent"][5] = 7


def _corrupt_dictionary_duplicate(a):
    a["dictionary.parent"][20], a["dictionary.symbol"][20] = (a["dictionary.parent"][21],
                                                              a["dictionary.symbol"][21])


def _corrupt_names(a):
    a["layer_names"] = np.frombuffer(b"{not json", dtype=np.uint8)


def _corrupt_shape(a):
    a["layer0.shape"] = np.array([12, 63], dtype=np.int64)


@pytest.mark.parametrize("corrupt", [
    _corrupt_wrong_magic, _corrupt_version, _corrupt_offset_beyond_codes,
    _corrupt_offsets_out_of_order, _corrupt_code_beyond_dictionary, _corrupt_filler_in_stream,
    _corrupt_row_length, _corrupt_offsets_dtype, _corrupt_missing_codes, _corrupt_scale_nan,
    _corrupt_scale_sign, _corrupt_dictionary_cycle, _corrupt_dictionary_duplicate,
    _corrupt_names, _corrupt_shape])
def test_corrupted_file_is_refused(dictionary, tmp_path, corrupt):
    save_compressed(tmp_path / "m.npz", _model(dictionary))
    arrays = _arrays(tmp_path / "m.npz")
    corrupt(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(TilerError):
        load_compressed(tmp_path / "bad.npz")


def test_truncated_or_damaged_file_is_refused(dictionary, tmp_path):
    model = _model(dictionary)
    save_compressed(tmp_path / "m.npz", model)
    data = (tmp_path / "m.npz").read_bytes()
    expected = decode_ternary(model.layers["w"], dictionary).values()
    for cut in (0, 5, 100, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        with pytest.raises(TilerError):
            load_compressed(tmp_path / "cut.npz")
    generator = np.random.default_rng(0)
    for position in generator.integers(0, len(data), size=25):
        damaged = bytearray(data)
        damaged[position] ^= 0x5A
        (tmp_path / "damaged.npz").write_bytes(bytes(damaged))
        try:
            loaded = load_compressed(tmp_path / "damaged.npz")
        except TilerError:
            continue
        # A byte no reader looks at (zip metadata): the content must be unchanged.
        assert np.array_equal(decode_ternary(loaded.layers["w"], loaded.dictionary).values(),
                              expected)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(TilerError):
        load_compressed(tmp_path / "none.npz")


# --- input matrices ------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    np.array([[1.0, np.nan]], dtype=np.float32), np.array([[np.inf, 1.0]]),
    np.zeros((0, 4), dtype=np.float32), np.ones(5, dtype=np.float32),
    np.ones((2, 2, 2), dtype=np.float32), np.ones((3, 3), dtype=np.int32),
    np.array([[1e39, 0.0]])])
def test_bad_npy_matrix_is_refused(tmp_path, bad):
    np.save(tmp_path / "m.npy", bad)
    with pytest.raises(TilerError):
        load_matrix(tmp_path / "m.npy")
    if bad.dtype.kind == "f" and bad.ndim == 2 and bad.size and not np.isfinite(bad).all():
        with pytest.raises(TilerError):
            quantise_ternary(bad)


def test_safetensors_matrix_is_read(tmp_path):
    weights = _weights(7, 9)
    save_safetensors(tmp_path / "m.safetensors", {"a": weights, "b": weights[:2].astype(np.float16)})
    assert np.array_equal(load_matrix(tmp_path / "m.safetensors", "a"), weights)
    with pytest.raises(TilerError):
        load_matrix(tmp_path / "m.safetensors")                          # two: name one
    with pytest.raises(TilerError):
        load_matrix(tmp_path / "m.safetensors", "c")


def _safetensors_bytes(header: dict, data: bytes) -> bytes:
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + data


@pytest.mark.parametrize("header, data", [
    ({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, b"\0" * 8),
    ({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}}, b"\0" * 16),
    ({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [8, 24]}}, b"\0" * 16),
    ({"w": {"dtype": "Q4", "shape": [2, 2], "data_offsets": [0, 16]}}, b"\0" * 16),
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16),
    ({"w": {"dtype": "F32", "shape": [0, 4], "data_offsets": [0, 0]}}, b""),
    ({"w": {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]}},
     np.array([1.0, np.nan], dtype="<f4").tobytes()),
    ({"w": "nonsense"}, b""),
])
def test_bad_safetensors_is_refused(tmp_path, header, data):
    (tmp_path / "m.safetensors").write_bytes(_safetensors_bytes(header, data))
    with pytest.raises(TilerError):
        load_matrix(tmp_path / "m.safetensors")


@pytest.mark.parametrize("raw", [b"", b"\x01\x02", struct.pack("<Q", 10**9) + b"{}",
                                 struct.pack("<Q", 4) + b"{no}"])
def test_garbage_safetensors_is_refused(tmp_path, raw):
    (tmp_path / "m.safetensors").write_bytes(raw)
    with pytest.raises(TilerError):
        load_matrix(tmp_path / "m.safetensors")


# --- command line --------------------------------------------------------------------------------

def test_compress_command(tmp_path, capsys):
    save_safetensors(tmp_path / "experts.safetensors",
                     {"e0.wi": _weights(64, 96, 1), "e0.wo": _weights(96, 64, 2)})
    parser = argparse.ArgumentParser()
    add_qmoe_arguments(parser)
    args = parser.parse_args(["compress", str(tmp_path / "experts.safetensors"),
                              str(tmp_path / "experts.npz")])
    assert run_qmoe_command(args) == 0
    assert "bits/weight" in capsys.readouterr().out
    loaded = load_compressed(tmp_path / "experts.npz")
    assert list(loaded.layers) == ["e0.wi", "e0.wo"]
    assert loaded.layers["e0.wi"].rows == 64
    args = parser.parse_args(["compress", str(tmp_path / "missing.npy"), str(tmp_path / "x.npz")])
    with pytest.raises(TilerError):
        run_qmoe_command(args)
    assert not (tmp_path / "x.npz").exists()


def test_pair_symbols_pad_odd_rows():
    digits = np.array([[1, -1, 0]], dtype=np.int8)
    assert pair_symbols(digits).tolist() == [[3 * 1 + 2, 0]]
