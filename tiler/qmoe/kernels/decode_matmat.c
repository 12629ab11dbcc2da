/* Batched QMoE decoding kernel: T tokens routed to one expert, y = W x for each, W never
 * materialised.
 *
 * The loop nest between the scop pragmas is what the polyhedral tiler tiles; it is
 * self-contained: parameters R (rows), C (codes per row), T (tokens), KP (rows of xt), arrays
 * declared outside. Every row's code stream is padded with the empty word (code 0, length 0,
 * weight 0) to the same C codes, so all loops are affine. Two statements:
 *   S0  start[r][c+1] = start[r][c] + length of word (r, c): where each word begins (the only
 *       sequential part of decoding, a prefix sum along the row);
 *   S1  y[r][t] += word (r, c) applied to token t: three multiply-adds at known columns.
 * With t innermost a word's table entry is read once and applied to a run of tokens (the
 * compiler vectorises across t, xt being token-minor); tiling r and c keeps a block of xt rows
 * and the table entries of a block of words in cache while a tile of tokens passes over them.
 * Word c of different rows starts at slightly different columns (on Switch-shaped synthetic
 * experts the spread is 20 to 40 columns, a word covering about 22), so a tile of words is a
 * tile of columns up to that margin. Padding every row to the longest row's C codes costs
 * 0.74 -> 0.81 bits/weight at 3072x768 and 0.73 -> 0.76 at 768x3072, in memory only (files
 * keep the unpadded streams); fixed 256-column blocks, each its own padded stream, would make
 * column tiles exact but cost 1.06 to 1.13 bits/weight.
 *
 * The table, xt and (in S1) the codes are read inside the CODE_* macros, which the tiler takes
 * for pure functions: none of them is written in the region, so no dependence is hidden. S1
 * reads its word there rather than taking codes[r][c] as an argument because that read is
 * invariant in t, while the hidden xt[..][t] is the stride-one stream per token: left visible,
 * codes[r][c] would count as a reason to put c innermost, which decodes the word once per token.
 *
 * Layout: xt[k][t] is feature k of token t, with KP >= columns + 2 rows (rows past the matrix
 * zero); grid[r] = {0, hi, lo, 0} of row r; y[r][t] accumulates (the caller zeroes it);
 * start[r][0] must be 0.
 */
#include <stdint.h>

#include "qmoe_decode.h"

#define CODE_LENGTH(code) QMOE_LENGTH(table[code])
#define CODE_TERM(e, s, n, r, t) (grid[r][QMOE_KIND(e, n)] * xt[(s) + QMOE_POSITION(e, n)][t])
#define CODE_DOT(s, r, c, t)                                                               \
    (CODE_TERM(table[codes[r][c]], s, 0, r, t) + CODE_TERM(table[codes[r][c]], s, 1, r, t) \
     + CODE_TERM(table[codes[r][c]], s, 2, r, t))

void qmoe_matmat(int R, int C, int T, int KP, const uint16_t codes[restrict R][C],
                 int32_t start[restrict R][C + 1], const float grid[restrict R][4],
                 const uint32_t table[restrict 65536], const float xt[restrict KP][T],
                 float y[restrict R][T])
{
    int r, c, t;
#pragma scop
    for (r = 0; r < R; r++)
        for (c = 0; c < C; c++) {
            start[r][c + 1] = start[r][c] + CODE_LENGTH(codes[r][c]);
            for (t = 0; t < T; t++)
                y[r][t] += CODE_DOT(start[r][c], r, c, t);
        }
#pragma endscop
}
