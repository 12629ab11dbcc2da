/* correlation: the Pearson correlation matrix (m x m) of m variables observed n times,
 * data n x m: columns are centred and scaled by sqrt(n) times their standard deviation
 * (a deviation below `tiny` counts as 1, so a constant column does not divide by zero),
 * then corr[i][j] = sum_k d[k][i] d[k][j]; the diagonal is 1.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define N 1400
#define M 1200
#endif
#ifndef N
#define N 41
#endif
#ifndef M
#define M 31
#endif

static void fill(int n, int m, real data[N][M])
{
  for (int k = 0; k < n; k++)
    for (int j = 0; j < m; j++)
      data[k][j] = (j % 7 == 3) ? 2.5 : (real) ((k * j + 5 * k + j) % 37) / 37;
}

static void kernel_correlation(int n, int m, real count, real tiny, real data[N][M],
                               real corr[M][M], real mean[M], real deviation[M])
{
  int i, j, k;
#pragma scop
  for (j = 0; j < m; j++) {
    mean[j] = 0.0;
    for (k = 0; k < n; k++)
      mean[j] = mean[j] + data[k][j];
    mean[j] = mean[j] / count;
  }
  for (j = 0; j < m; j++) {
    deviation[j] = 0.0;
    for (k = 0; k < n; k++)
      deviation[j] = deviation[j] + (data[k][j] - mean[j]) * (data[k][j] - mean[j]);
    deviation[j] = real_sqrt(deviation[j] / count);
    deviation[j] = deviation[j] < tiny ? 1.0 : deviation[j];
  }
  for (k = 0; k < n; k++)
    for (j = 0; j < m; j++)
      data[k][j] = (data[k][j] - mean[j]) / (real_sqrt(count) * deviation[j]);
  for (i = 0; i < m; i++) {
    corr[i][i] = 1.0;
    for (j = i + 1; j < m; j++) {
      corr[i][j] = 0.0;
      for (k = 0; k < n; k++)
        corr[i][j] = corr[i][j] + data[k][i] * data[k][j];
      corr[j][i] = corr[i][j];
    }
  }
#pragma endscop
}

int main(void)
{
  int n = N, m = M;
  real (*data)[M] = suite_alloc((size_t) N * M, sizeof(real));
  real (*corr)[M] = suite_alloc((size_t) M * M, sizeof(real));
  real *mean = suite_alloc((size_t) M, sizeof(real));
  real *deviation = suite_alloc((size_t) M, sizeof(real));

  fill(n, m, data);
  SUITE_TIME(kernel_correlation(n, m, (real) n, 1e-3, data, corr, mean, deviation));
  suite_output_real("corr", corr, (size_t) M * M);
  suite_output_real("mean", mean, (size_t) M);
  suite_output_real("deviation", deviation, (size_t) M);
  suite_finish();
  free(data);
  free(corr);
  free(mean);
  free(deviation);
  return 0;
}
