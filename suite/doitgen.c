/* doitgen: a multiresolution analysis step, every row A[r][q][*] of a 3-D array replaced by
 * its product with a square matrix W (np x np), through a row buffer.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define NR 180
#define NQ 160
#define NP 200
#endif
#ifndef NR
#define NR 11
#endif
#ifndef NQ
#define NQ 13
#endif
#ifndef NP
#define NP 17
#endif

static void fill(int nr, int nq, int np, real A[NR][NQ][NP], real W[NP][NP])
{
  for (int r = 0; r < nr; r++)
    for (int q = 0; q < nq; q++)
      for (int p = 0; p < np; p++)
        A[r][q][p] = (real) ((r * q + 2 * p + 1) % 29) / 29;
  for (int s = 0; s < np; s++)
    for (int p = 0; p < np; p++)
      W[s][p] = (real) ((s * 3 + p * p + 7) % 31) / (2 * np);
}

static void kernel_doitgen(int nr, int nq, int np, real A[NR][NQ][NP], real W[NP][NP],
                           real row[NP])
{
  int r, q, p, s;
#pragma scop
  for (r = 0; r < nr; r++)
    for (q = 0; q < nq; q++) {
      for (p = 0; p < np; p++) {
        row[p] = 0.0;
        for (s = 0; s < np; s++)
          row[p] = row[p] + A[r][q][s] * W[s][p];
      }
      for (p = 0; p < np; p++)
        A[r][q][p] = row[p];
    }
#pragma endscop
}

int main(void)
{
  int nr = NR, nq = NQ, np = NP;
  real (*A)[NQ][NP] = suite_alloc((size_t) NR * NQ * NP, sizeof(real));
  real (*W)[NP] = suite_alloc((size_t) NP * NP, sizeof(real));
  real *row = suite_alloc((size_t) NP, sizeof(real));

  fill(nr, nq, np, A, W);
  SUITE_TIME(kernel_doitgen(nr, nq, np, A, W, row));
  suite_output_real("A", A, (size_t) NR * NQ * NP);
  suite_output_real("row", row, (size_t) NP);
  suite_finish();
  free(A);
  free(W);
  free(row);
  return 0;
}
