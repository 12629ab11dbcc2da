/* A 1-D three-point stencil under a time loop: tiling time with space needs skewing. */
void smooth(int tsteps, int n, double A[n], double B[n])
{
  int t, i;
#pragma scop
  for (t = 0; t < tsteps; t++) {
    for (i = 1; i < n - 1; i++)
      B[i] = 0.25 * A[i - 1] + 0.5 * A[i] + 0.25 * A[i + 1];
    for (i = 1; i < n - 1; i++)
      A[i] = B[i];
  }
#pragma endscop
}
