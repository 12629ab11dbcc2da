/* A scaled product whose broadcast operand, alpha * A[i][k], is packed into a panel per
   row block and re-read by every micro-tile along j. */
void scaled_product(int ni, int nj, int nk, double alpha,
                    double C[ni][nj], double A[ni][nk], double B[nk][nj])
{
  int i, j, k;
#pragma scop
  for (i = 0; i < ni; i++)
    for (k = 0; k < nk; k++)
      for (j = 0; j < nj; j++)
        C[i][j] = C[i][j] + alpha * A[i][k] * B[k][j];
#pragma endscop
}
