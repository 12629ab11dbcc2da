/* A matrix product accumulated into C: one statement, the micro-tile's vector code. */
void product(int ni, int nj, int nk, double alpha,
             double C[ni][nj], double A[ni][nk], double B[nk][nj])
{
  int i, j, k;
#pragma scop
  for (i = 0; i < ni; i++)
    for (k = 0; k < nk; k++)
      for (j = 0; j < nj; j++)
        C[i][j] += alpha * A[i][k] * B[k][j];
#pragma endscop
}
