/* A 2-deep rectangular nest: every loop is tileable in the original order. */
void add_transpose(int n, int m, double A[n][m], double B[m][n])
{
  int i, j;
#pragma scop
#ifndef min
#define min(x, y) ((x) < (y) ? (x) : (y))
#endif
#define S0(i, j) A[(i)][(j)] = A[(i)][(j)] + B[(j)][(i)]
  for (int c0 = 0; c0 < n; c0 += 32) {
    for (int c1 = 0; c1 < m; c1 += 32) {
      for (int c2 = c0, c2_end = min(n - 1, c0 + 31); c2 <= c2_end; c2++) {
        for (int c3 = c1, c3_end = min(m - 1, c1 + 31); c3 <= c3_end; c3++) {
          S0(c2, c3);
        }
      }
    }
  }
#undef S0
#pragma endscop
}
