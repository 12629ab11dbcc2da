/* A 2-deep rectangular nest: every loop is tileable in the original order. */
void add_transpose(int n, int m, double A[n][m], double B[m][n])
{
  int i, j;
#pragma scop
  for (i = 0; i < n; i++)
    for (j = 0; j < m; j++)
      A[i][j] = A[i][j] + B[j][i];
#pragma endscop
}
