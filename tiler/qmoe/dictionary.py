"""The QMoE dictionary: 2^16 prefix-closed words of ternary weight pairs, a Tunstall code.

A pair of ternary weights is one of 9 symbols, ``3 * a + b`` with digits 0 (zero), 1 (hi),
2 (lo). A word is a sequence of 1 to ``MAX_WORD_PAIRS`` pairs and each word has one 16-bit code;
entry 0 is the empty word.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from tiler.errors import TilerError

PAIR_SYMBOLS = 9
# QMoE's dictionary: 2^16 words (one 16-bit code each) of at most 14 pairs (28 weights).
DICTIONARY_SIZE = 1 << 16
MAX_WORD_PAIRS = 14
# The decoding kernels do a fixed amount of work per word: up to three nonzero weights. At the
# sparsities the format targets (85-92 % zeros) a word holds 2.7 nonzeros on average and leaving
# out the words with more costs under 0.2 % of the code length.
MAX_WORD_NONZEROS = 3
# The zero fraction QMoE observes on its ternary experts (also the quantiser's default).
DEFAULT_ZERO_FRACTION = 0.885
# Symbol counts are smoothed by this many pseudo-observations, so no symbol has probability 0.
SMOOTHING_COUNT = 1.0

_DIGIT_NONZEROS = np.array([0, 1, 1])
SYMBOL_NONZEROS = (_DIGIT_NONZEROS[:, None] + _DIGIT_NONZEROS[None, :]).ravel()


def frozen(array: np.ndarray) -> np.ndarray:
    """Return ``array`` contiguous and read-only."""
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Dictionary:
    """A prefix-closed dictionary of pair sequences, one word per 16-bit code.

    Attributes:
        parent, symbol: word i is word ``parent[i]`` followed by pair ``symbol[i]``; entry 0 is
            the empty word (the filler that pads rows to a common number of codes).
        pairs: uint8[D, MAX_WORD_PAIRS], word i's pairs (zero beyond its length).
        lengths: uint8[D], each word's number of pairs.
    """

    parent: np.ndarray
    symbol: np.ndarray
    pairs: np.ndarray = field(repr=False)
    lengths: np.ndarray = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.parent)

    def nonzeros(self) -> np.ndarray:
        """Return each word's number of nonzero weights."""
        mask = np.arange(MAX_WORD_PAIRS)[None, :] < self.lengths[:, None]
        return (SYMBOL_NONZEROS[self.pairs] * mask).sum(axis=1)


def pair_probabilities(symbol_matrices: list[np.ndarray]) -> np.ndarray:
    """Return float64[9], the smoothed frequency of each pair symbol over all matrices."""
    counts = np.full(PAIR_SYMBOLS, SMOOTHING_COUNT)
    for symbols in symbol_matrices:
        counts += np.bincount(symbols.ravel(), minlength=PAIR_SYMBOLS)
    return counts / counts.sum()


def iid_pair_probabilities(zero_fraction: float = DEFAULT_ZERO_FRACTION) -> np.ndarray:
    """Return the pair probabilities of i.i.d. ternary weights with symmetric nonzeros."""
    single = np.array([zero_fraction, (1 - zero_fraction) / 2, (1 - zero_fraction) / 2])
    return np.outer(single, single).ravel()


def build_dictionary(probabilities: np.ndarray, size: int = DICTIONARY_SIZE,
                     max_pairs: int = MAX_WORD_PAIRS,
                     max_nonzeros: int = MAX_WORD_NONZEROS) -> Dictionary:
    """Return a Tunstall dictionary of ``size`` words for i.i.d. pairs of ``probabilities``.

    Starting from the empty word and the nine single pairs, the most probable word that may
    still grow is extended by every pair symbol at once (Tunstall's rule), until the codes run
    out. Every word stays a code, so the dictionary is prefix-closed: greedy parsing always
    succeeds and a stream may end inside any word. Extending by all nine symbols matters: when a
    word has only its likely extensions, greedy parsing stops there exactly when a rare pair
    follows, and the next word then starts with that rare pair; measured on ternary rows with
    88.5 % zeros, the most-probable-words dictionary needs 1.4 % more codes than this one.
    Extensions longer than ``max_pairs`` or with more than ``max_nonzeros`` nonzero weights are
    left out. Words are numbered in the order they are made, so a parent precedes its children.

    Args:
        probabilities: the 9 pair-symbol probabilities, all positive.
        size: the number of codes, 10 .. 2^16.
        max_pairs: the longest word, in pairs (at most ``MAX_WORD_PAIRS``).
        max_nonzeros: the most nonzero weights in one word, 2 .. ``MAX_WORD_NONZEROS``.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (PAIR_SYMBOLS,) or not (probabilities > 0).all():
        raise TilerError("pair probabilities must be 9 positive numbers")
    if not (PAIR_SYMBOLS + 1 <= size <= DICTIONARY_SIZE and 1 <= max_pairs <= MAX_WORD_PAIRS
            and 2 <= max_nonzeros <= MAX_WORD_NONZEROS):
        raise TilerError(f"bad dictionary parameters: size {size}, {max_pairs} pairs, "
                         f"{max_nonzeros} nonzeros")
    log_p = np.log(probabilities / probabilities.sum()).tolist()
    nonzeros_of = SYMBOL_NONZEROS.tolist()
    parent, symbol = [0], [0]
    words = [(0.0, 0, 0)]  # (log P, pairs, nonzeros) of each word made so far
    growable: list[tuple[float, int, int]] = [(0.0, 0, 0)]  # (-log P, pairs, word)
    while growable and len(parent) < size:
        _, _, word = heapq.heappop(growable)
        word_log_p, pairs, nonzeros = words[word]
        for pair in range(PAIR_SYMBOLS):
            if nonzeros + nonzeros_of[pair] > max_nonzeros or len(parent) == size:
                continue
            parent.append(word)
            symbol.append(pair)
            child = (word_log_p + log_p[pair], pairs + 1, nonzeros + nonzeros_of[pair])
            words.append(child)
            if child[1] < max_pairs:
                heapq.heappush(growable, (-child[0], child[1], len(parent) - 1))
    if len(parent) < size:
        raise TilerError(f"only {len(parent)} words fit {max_pairs} pairs and {max_nonzeros} "
                         f"nonzeros; cannot fill {size} codes")
    return dictionary_from_tree(np.array(parent, dtype=np.uint16),
                                np.array(symbol, dtype=np.uint8))


def dictionary_from_tree(parent: np.ndarray, symbol: np.ndarray) -> Dictionary:
    """Return the dictionary given by parent links; raise ``TilerError`` unless it is one.

    A dictionary has 10 .. 2^16 entries, entry 0 the empty word, every other word its parent
    (an earlier entry) plus one pair symbol, no word twice, every single pair present, no word
    longer than ``MAX_WORD_PAIRS`` or with more than ``MAX_WORD_NONZEROS`` nonzero weights.
    """
    parent = np.asarray(parent)
    symbol = np.asarray(symbol)
    size = len(parent)
    if parent.dtype != np.uint16 or symbol.dtype != np.uint8 or parent.ndim != 1 \
            or symbol.shape != parent.shape:
        raise TilerError("dictionary arrays must be uint16 parents and uint8 symbols of one length")
    if not PAIR_SYMBOLS + 1 <= size <= DICTIONARY_SIZE:
        raise TilerError(f"dictionary of {size} entries; expected 10 .. {DICTIONARY_SIZE}")
    index = np.arange(size)
    if (parent[1:] >= index[1:]).any():
        raise TilerError("dictionary entry refers to a later parent")
    if (symbol[1:] >= PAIR_SYMBOLS).any():
        raise TilerError("dictionary entry has a pair symbol beyond 8")
    keys = parent[1:].astype(np.int64) * PAIR_SYMBOLS + symbol[1:]
    if len(np.unique(keys)) != size - 1:
        raise TilerError("dictionary holds the same word twice")
    if np.count_nonzero(parent[1:] == 0) != PAIR_SYMBOLS:
        raise TilerError("dictionary lacks a single pair, so some streams would not parse")
    lengths, nonzeros = _word_lengths(parent, symbol)
    if lengths.max() > MAX_WORD_PAIRS:
        raise TilerError(f"dictionary word longer than {MAX_WORD_PAIRS} pairs")
    if nonzeros.max() > MAX_WORD_NONZEROS:
        raise TilerError(f"dictionary word with more than {MAX_WORD_NONZEROS} nonzero weights")
    pairs = np.zeros((size, MAX_WORD_PAIRS), dtype=np.uint8)
    node = index.copy()
    for depth_from_end in range(MAX_WORD_PAIRS):
        alive = lengths - 1 - depth_from_end >= 0
        pairs[index[alive], (lengths - 1 - depth_from_end)[alive]] = symbol[node[alive]]
        node = np.where(alive, parent[node], node)
    return Dictionary(frozen(parent), frozen(symbol), frozen(pairs),
                      frozen(lengths.astype(np.uint8)))


def _word_lengths(parent: np.ndarray, symbol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each entry's length in pairs and number of nonzeros (parents precede children)."""
    size = len(parent)
    lengths = np.zeros(size, dtype=np.int64)
    nonzeros = np.zeros(size, dtype=np.int64)
    settled = np.zeros(size, dtype=bool)
    settled[0] = True
    # Each round settles the entries whose parent is settled: one round per word length.
    for _ in range(MAX_WORD_PAIRS + 1):
        ready = ~settled & settled[parent]
        if not ready.any():
            break
        lengths[ready] = lengths[parent[ready]] + 1
        nonzeros[ready] = nonzeros[parent[ready]] + SYMBOL_NONZEROS[symbol[ready]]
        settled |= ready
    if not settled.all():
        lengths[~settled] = MAX_WORD_PAIRS + 1
    return lengths, nonzeros
