/* gemm with the scaling of C as its own statement and the product in i, k, j order. */
void gemm(int ni, int nj, int nk, double alpha, double beta,
          double C[ni][nj], double A[ni][nk], double B[nk][nj])
{
  int i, j, k;
#pragma scop
#ifndef min
#define min(x, y) ((x) < (y) ? (x) : (y))
#endif
#define S0(i, j) C[(i)][(j)] *= beta
#define S1(i, k, j) C[(i)][(j)] += alpha * A[(i)][(k)] * B[(k)][(j)]
  for (int c0 = 0; c0 < ni; c0 += 32) {
    for (int c1 = 0; c1 < nj; c1 += 32) {
      for (int c3 = c0, c3_end = min(ni - 1, c0 + 31); c3 <= c3_end; c3++) {
        if (nk >= 1) {
          for (int c5 = c1, c5_end = min(nj - 1, c1 + 31); c5 <= c5_end; c5++) {
            S0(c3, c5);
            S1(c3, 0, c5);
          }
          for (int c4 = 1, c4_end = min(31, nk - 1); c4 <= c4_end; c4++) {
            for (int c5 = c1, c5_end = min(nj - 1, c1 + 31); c5 <= c5_end; c5++) {
              S1(c3, c4, c5);
            }
          }
        } else {
          for (int c5 = c1, c5_end = min(nj - 1, c1 + 31); c5 <= c5_end; c5++) {
            S0(c3, c5);
          }
        }
      }
      for (int c2 = 32; c2 < nk; c2 += 32) {
        for (int c3 = c0, c3_end = min(ni - 1, c0 + 31); c3 <= c3_end; c3++) {
          for (int c4 = c2, c4_end = min(nk - 1, c2 + 31); c4 <= c4_end; c4++) {
            for (int c5 = c1, c5_end = min(nj - 1, c1 + 31); c5 <= c5_end; c5++) {
              S1(c3, c4, c5);
            }
          }
        }
      }
    }
  }
#undef S0
#undef S1
#pragma endscop
}
