/* Batch-1 QMoE decoding kernel: y = W x straight from the code streams, W never materialised.
 *
 * Row r of W is the stream codes[offsets[r] .. offsets[r+1]); each code's table entry gives the
 * word's length and its (at most three) nonzero weights, so a word costs three multiply-adds on
 * x at fixed offsets from the running column. grid[r] = {0, hi, lo, 0} of row r. x must hold
 * columns + 2 values, the last two zero (unused slots read x at the word's start, weight 0).
 */
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "qmoe_decode.h"

#define WORD_DOT(e, g, column)                                                      \
    ((g)[QMOE_KIND(e, 0)] * (column)[QMOE_POSITION(e, 0)]                           \
     + (g)[QMOE_KIND(e, 1)] * (column)[QMOE_POSITION(e, 1)]                         \
     + (g)[QMOE_KIND(e, 2)] * (column)[QMOE_POSITION(e, 2)])

void qmoe_matvec(int rows, const int64_t *restrict offsets, const uint16_t *restrict codes,
                 const float (*restrict grid)[4], const uint32_t *restrict table,
                 const float *restrict x, float *restrict y)
{
    /* Rows are independent: threads take contiguous blocks of them. */
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const float *g = grid[r];
        const float *column = x;
        /* Two sums, so consecutive words do not wait on one chain of additions. */
        float even = 0.0f, odd = 0.0f;
        int64_t i = offsets[r];
        const int64_t end = offsets[r + 1];
        for (; i + 1 < end; i += 2) {
            const uint32_t e = table[codes[i]], f = table[codes[i + 1]];
            even += WORD_DOT(e, g, column);
            column += QMOE_LENGTH(e);
            odd += WORD_DOT(f, g, column);
            column += QMOE_LENGTH(f);
        }
        if (i < end)
            even += WORD_DOT(table[codes[i]], g, column);
        y[r] = even + odd;
    }
}

/* The number of threads of the kernels' parallel loops (OpenMP's, for the calling thread). */
void qmoe_set_threads(int threads)
{
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
}
