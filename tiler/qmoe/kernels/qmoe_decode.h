/* Decode-table entries of the QMoE ternary format, shared by the decoding kernels.
 *
 * The table has one 32-bit entry per code; the entry of a dictionary word packs
 *   bits  0..4    the number of weights the word covers (0 for the empty filler word)
 *   bits  5..11   slot 0: a nonzero weight's position in the word (5 bits), then its kind
 *                 (2 bits: 0 unused, 1 the row's hi, 2 the row's lo)
 *   bits 12..18   slot 1, bits 19..25 slot 2
 * A word has at most three nonzero weights, so every word costs the same three terms. An
 * unused slot has kind 0 and position 0; with a row's grid {0, hi, lo, 0} indexed by kind a
 * kernel needs no branch on the word's contents.
 */
#ifndef QMOE_DECODE_H
#define QMOE_DECODE_H

#include <stdint.h>

#define QMOE_SLOTS 3
#define QMOE_LENGTH(e) ((int)((e) & 31u))
#define QMOE_POSITION(e, n) ((int)(((e) >> (5 + 7 * (n))) & 31u))
#define QMOE_KIND(e, n) ((int)(((e) >> (10 + 7 * (n))) & 3u))

#endif
