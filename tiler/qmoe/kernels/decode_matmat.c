/* Batched QMoE decoding kernel: T tokens routed to one expert, y = W x for each, W never
 * materialised.
 *
 * Written as a user would write it, each row once per token: the loop nest between the scop
 * pragmas decodes the whole matrix once per token. Rows are the outermost loop so that
 * `tiler tile --parallel` marks the row loop (tokens outermost, the mark went on the token
 * tile loop, a single tile below 512 tokens, so one thread). It is what `tiler tile` rewrites; tiled,
 * a tile of rows and words is decoded once and applied to a tile of tokens while the words'
 * activations and decode-table entries are still in cache. Parameters: R rows, C codes per
 * row, T tokens, K rows of xt.
 *
 * Every row's code stream is padded with the empty word (code 0, length 0, no weights) to the
 * same C codes, so all loops are affine. Two statements:
 *   S0  start[r][c+1] = start[r][c] + length of word (r, c): the column where each word begins
 *       (the one sequential part of decoding, a prefix sum along the row);
 *   S1  y[r][t] += word (r, c) applied to token t: three multiply-adds at columns the word's
 *       table entry gives, weights from the row's grid {0, hi, lo, 0} indexed by their kind.
 * The reads of xt, table and grid have subscripts computed from data: the tiler takes each
 * as a read of any element of its row for dependences (none is written here), and as one
 * element per (row, word) for the cache model.
 *
 * Padding every row to the longest row's C codes costs 0.74 -> 0.81 bits/weight at 3072x768
 * and 0.73 -> 0.76 at 768x3072, in memory only (files keep the unpadded streams).
 *
 * Layout: xt[k][t] is feature k of token t (token-minor, so that a word applied to a run of
 * tokens is a vector operation), with K >= columns + 2 rows (rows past the matrix zero: an
 * unused slot reads the word's first column with weight 0, one past the row for the filler
 * words after an odd-length row); y[r][t] accumulates (the caller zeroes it); start is
 * scratch of R x (C + 1) with start[r][0] = 0.
 */
#include <stdint.h>

#include "qmoe_decode.h"

void qmoe_matmat(int R, int C, int T, int K, const uint16_t codes[restrict R][C],
                 int32_t start[restrict R][C + 1], const float grid[restrict R][4],
                 const uint32_t table[restrict 65536], const float xt[restrict K][T],
                 float y[restrict R][T])
{
    int r, c, t;
#pragma scop
    for (r = 0; r < R; r++)
        for (c = 0; c < C; c++)
            start[r][c + 1] = start[r][c] + QMOE_LENGTH(table[codes[r][c]]);
    for (r = 0; r < R; r++)
        for (t = 0; t < T; t++)
            for (c = 0; c < C; c++)
                y[r][t] += grid[r][QMOE_KIND(table[codes[r][c]], 0)]
                               * xt[start[r][c] + QMOE_POSITION(table[codes[r][c]], 0)][t]
                           + grid[r][QMOE_KIND(table[codes[r][c]], 1)]
                               * xt[start[r][c] + QMOE_POSITION(table[codes[r][c]], 1)][t]
                           + grid[r][QMOE_KIND(table[codes[r][c]], 2)]
                               * xt[start[r][c] + QMOE_POSITION(table[codes[r][c]], 2)][t];
#pragma endscop
}
