/* 3mm: three products, E := A B, F := C D, G := E F.
 * A is ni x nk, B nk x nj, C nj x nm, D nm x nl; E ni x nj, F nj x nl, G ni x nl.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define NI 700
#define NJ 800
#define NK 900
#define NL 1000
#define NM 1100
#endif
#ifndef NI
#define NI 23
#endif
#ifndef NJ
#define NJ 29
#endif
#ifndef NK
#define NK 31
#endif
#ifndef NL
#define NL 37
#endif
#ifndef NM
#define NM 19
#endif

static void fill(int ni, int nj, int nk, int nl, int nm, real A[NI][NK], real B[NK][NJ],
                 real C[NJ][NM], real D[NM][NL])
{
  for (int i = 0; i < ni; i++)
    for (int k = 0; k < nk; k++)
      A[i][k] = (real) ((i + 2 * k + 5) % 11) / 11;
  for (int k = 0; k < nk; k++)
    for (int j = 0; j < nj; j++)
      B[k][j] = (real) ((3 * k + j + 1) % 13) / 13 - 0.5;
  for (int j = 0; j < nj; j++)
    for (int m = 0; m < nm; m++)
      C[j][m] = (real) ((j * m + 2) % 7) / 7;
  for (int m = 0; m < nm; m++)
    for (int l = 0; l < nl; l++)
      D[m][l] = (real) ((m + 4 * l + 3) % 17) / 17;
}

static void kernel_3mm(int ni, int nj, int nk, int nl, int nm, real E[NI][NJ],
                       real A[NI][NK], real B[NK][NJ], real F[NJ][NL], real C[NJ][NM],
                       real D[NM][NL], real G[NI][NL])
{
  int i, j, k, l, m;
#pragma scop
  for (i = 0; i < ni; i++)
    for (j = 0; j < nj; j++) {
      E[i][j] = 0.0;
      for (k = 0; k < nk; k++)
        E[i][j] += A[i][k] * B[k][j];
    }
  for (j = 0; j < nj; j++)
    for (l = 0; l < nl; l++) {
      F[j][l] = 0.0;
      for (m = 0; m < nm; m++)
        F[j][l] += C[j][m] * D[m][l];
    }
  for (i = 0; i < ni; i++)
    for (l = 0; l < nl; l++) {
      G[i][l] = 0.0;
      for (j = 0; j < nj; j++)
        G[i][l] += E[i][j] * F[j][l];
    }
#pragma endscop
}

int main(void)
{
  int ni = NI, nj = NJ, nk = NK, nl = NL, nm = NM;
  real (*A)[NK] = suite_alloc((size_t) NI * NK, sizeof(real));
  real (*B)[NJ] = suite_alloc((size_t) NK * NJ, sizeof(real));
  real (*C)[NM] = suite_alloc((size_t) NJ * NM, sizeof(real));
  real (*D)[NL] = suite_alloc((size_t) NM * NL, sizeof(real));
  real (*E)[NJ] = suite_alloc((size_t) NI * NJ, sizeof(real));
  real (*F)[NL] = suite_alloc((size_t) NJ * NL, sizeof(real));
  real (*G)[NL] = suite_alloc((size_t) NI * NL, sizeof(real));

  fill(ni, nj, nk, nl, nm, A, B, C, D);
  SUITE_TIME(kernel_3mm(ni, nj, nk, nl, nm, E, A, B, F, C, D, G));
  suite_output_real("E", E, (size_t) NI * NJ);
  suite_output_real("F", F, (size_t) NJ * NL);
  suite_output_real("G", G, (size_t) NI * NL);
  suite_finish();
  free(A);
  free(B);
  free(C);
  free(D);
  free(E);
  free(F);
  free(G);
  return 0;
}
