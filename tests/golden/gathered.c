/* A symmetric rank-k update: A[j][k] moves across rows along the vector member j, so the
   vector code reads it from a transposed panel, one block per column block of a tile. */
void rank_update(int n, int m, double alpha, double C[n][n], double A[n][m])
{
  int i, j, k;
#pragma scop
  for (i = 0; i < n; i++)
    for (k = 0; k < m; k++)
      for (j = 0; j <= i; j++)
        C[i][j] = C[i][j] + alpha * A[i][k] * A[j][k];
#pragma endscop
}
