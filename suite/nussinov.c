/* nussinov: the largest number of nested base pairs of an RNA sequence (bases 0-3 for
 * A, C, G, U; A-U and C-G pair, their codes adding up to 3), by dynamic programming over
 * subsequences: best[i][j] for the bases i..j, from shorter subsequences - drop base i or
 * base j, pair i with j around best[i+1][j-1], or split at k.
 * tiler: expect tiled (every entry depends only on shorter spans: rows below, columns to the
 * left, so i descending and j ascending form a permutable band)
 */
#include "harness.h"

#ifdef LARGE
#define N 1300
#endif
#ifndef N
#define N 67
#endif

#define larger(a, b) ((a) > (b) ? (a) : (b))
#define pairs(a, b) ((a) + (b) == 3 ? 1 : 0)

static void fill(int n, int base[N], int best[N][N])
{
  for (int i = 0; i < n; i++) {
    base[i] = (i * 7 + i / 3 + 1) % 4;
    for (int j = 0; j < n; j++)
      best[i][j] = 0;
  }
}

static void kernel_nussinov(int n, int base[N], int best[N][N])
{
  int i, j, k;
#pragma scop
  for (i = n - 2; i >= 0; i--)
    for (j = i + 1; j < n; j++) {
      best[i][j] = larger(best[i][j - 1], best[i + 1][j]);
      if (j > i + 1)
        best[i][j] = larger(best[i][j], best[i + 1][j - 1] + pairs(base[i], base[j]));
      for (k = i + 1; k < j; k++)
        best[i][j] = larger(best[i][j], best[i][k] + best[k + 1][j]);
    }
#pragma endscop
}

int main(void)
{
  int n = N;
  int *base = suite_alloc((size_t) N, sizeof(int));
  int (*best)[N] = suite_alloc((size_t) N * N, sizeof(int));

  fill(n, base, best);
  SUITE_TIME(kernel_nussinov(n, base, best));
  suite_output_int("best", best, (size_t) N * N);
  suite_finish();
  free(base);
  free(best);
  return 0;
}
