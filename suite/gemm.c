/* gemm: C := alpha * A B + beta * C, with A of ni x nk and B of nk x nj.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define NI 1200
#define NJ 1300
#define NK 1400
#endif
#ifndef NI
#define NI 37
#endif
#ifndef NJ
#define NJ 43
#endif
#ifndef NK
#define NK 41
#endif

static void fill(int ni, int nj, int nk, real A[NI][NK], real B[NK][NJ], real C[NI][NJ])
{
  for (int i = 0; i < ni; i++)
    for (int k = 0; k < nk; k++)
      A[i][k] = (real) ((3 * i + 2 * k + 1) % 29) / 29 - 0.5;
  for (int k = 0; k < nk; k++)
    for (int j = 0; j < nj; j++)
      B[k][j] = (real) ((5 * k + j + 4) % 31) / 31;
  for (int i = 0; i < ni; i++)
    for (int j = 0; j < nj; j++)
      C[i][j] = (real) ((i + 7 * j) % 23) / 23;
}

static void kernel_gemm(int ni, int nj, int nk, real alpha, real beta,
                        real A[NI][NK], real B[NK][NJ], real C[NI][NJ])
{
  int i, j, k;
#pragma scop
  for (i = 0; i < ni; i++) {
    for (j = 0; j < nj; j++)
      C[i][j] = beta * C[i][j];
    for (k = 0; k < nk; k++)
      for (j = 0; j < nj; j++)
        C[i][j] = C[i][j] + alpha * A[i][k] * B[k][j];
  }
#pragma endscop
}

int main(void)
{
  int ni = NI, nj = NJ, nk = NK;
  real (*A)[NK] = suite_alloc((size_t) NI * NK, sizeof(real));
  real (*B)[NJ] = suite_alloc((size_t) NK * NJ, sizeof(real));
  real (*C)[NJ] = suite_alloc((size_t) NI * NJ, sizeof(real));

  fill(ni, nj, nk, A, B, C);
  SUITE_TIME(kernel_gemm(ni, nj, nk, 1.25, 0.75, A, B, C));
  suite_output_real("C", C, (size_t) NI * NJ);
  suite_finish();
  free(A);
  free(B);
  free(C);
  return 0;
}
