/* 2mm: two chained products, T := alpha * A B, then D := beta * D + T C.
 * A is ni x nk, B nk x nj, C nj x nl, D ni x nl.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define NI 1000
#define NJ 1100
#define NK 1200
#define NL 1300
#endif
#ifndef NI
#define NI 31
#endif
#ifndef NJ
#define NJ 37
#endif
#ifndef NK
#define NK 41
#endif
#ifndef NL
#define NL 29
#endif

static void fill(int ni, int nj, int nk, int nl, real A[NI][NK], real B[NK][NJ],
                 real C[NJ][NL], real D[NI][NL])
{
  for (int i = 0; i < ni; i++)
    for (int k = 0; k < nk; k++)
      A[i][k] = (real) ((i * 7 + k * 3 + 2) % 19) / 19;
  for (int k = 0; k < nk; k++)
    for (int j = 0; j < nj; j++)
      B[k][j] = (real) ((k + 5 * j + 1) % 23) / 23 - 0.25;
  for (int j = 0; j < nj; j++)
    for (int l = 0; l < nl; l++)
      C[j][l] = (real) ((2 * j + 9 * l + 4) % 17) / 17;
  for (int i = 0; i < ni; i++)
    for (int l = 0; l < nl; l++)
      D[i][l] = (real) ((i * l + 3) % 13) / 13;
}

static void kernel_2mm(int ni, int nj, int nk, int nl, real alpha, real beta,
                       real T[NI][NJ], real A[NI][NK], real B[NK][NJ], real C[NJ][NL],
                       real D[NI][NL])
{
  int i, j, k, l;
#pragma scop
  for (i = 0; i < ni; i++)
    for (j = 0; j < nj; j++) {
      T[i][j] = 0.0;
      for (k = 0; k < nk; k++)
        T[i][j] += alpha * A[i][k] * B[k][j];
    }
  for (i = 0; i < ni; i++)
    for (l = 0; l < nl; l++) {
      D[i][l] *= beta;
      for (j = 0; j < nj; j++)
        D[i][l] += T[i][j] * C[j][l];
    }
#pragma endscop
}

int main(void)
{
  int ni = NI, nj = NJ, nk = NK, nl = NL;
  real (*T)[NJ] = suite_alloc((size_t) NI * NJ, sizeof(real));
  real (*A)[NK] = suite_alloc((size_t) NI * NK, sizeof(real));
  real (*B)[NJ] = suite_alloc((size_t) NK * NJ, sizeof(real));
  real (*C)[NL] = suite_alloc((size_t) NJ * NL, sizeof(real));
  real (*D)[NL] = suite_alloc((size_t) NI * NL, sizeof(real));

  fill(ni, nj, nk, nl, A, B, C, D);
  SUITE_TIME(kernel_2mm(ni, nj, nk, nl, 1.5, 0.5, T, A, B, C, D));
  suite_output_real("T", T, (size_t) NI * NJ);
  suite_output_real("D", D, (size_t) NI * NL);
  suite_finish();
  free(T);
  free(A);
  free(B);
  free(C);
  free(D);
  return 0;
}
