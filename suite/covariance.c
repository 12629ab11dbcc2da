/* covariance: the covariance matrix (m x m) of m variables observed n times, data n x m:
 * each column is centred on its mean, then cov[i][j] = sum_k d[k][i] d[k][j] / (n - 1)
 * for j >= i, mirrored into the lower triangle.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define N 1400
#define M 1200
#endif
#ifndef N
#define N 43
#endif
#ifndef M
#define M 37
#endif

static void fill(int n, int m, real data[N][M])
{
  for (int k = 0; k < n; k++)
    for (int j = 0; j < m; j++)
      data[k][j] = (real) ((k * 11 + j * 3 + 1) % 41) / 41 + 0.01 * j;
}

static void kernel_covariance(int n, int m, real scale, real data[N][M], real cov[M][M],
                              real mean[M])
{
  int i, j, k;
#pragma scop
  for (j = 0; j < m; j++) {
    mean[j] = 0.0;
    for (k = 0; k < n; k++)
      mean[j] = mean[j] + data[k][j];
    mean[j] = mean[j] / scale;
  }
  for (k = 0; k < n; k++)
    for (j = 0; j < m; j++)
      data[k][j] = data[k][j] - mean[j];
  for (i = 0; i < m; i++)
    for (j = i; j < m; j++) {
      cov[i][j] = 0.0;
      for (k = 0; k < n; k++)
        cov[i][j] = cov[i][j] + data[k][i] * data[k][j];
      cov[i][j] = cov[i][j] / (scale - 1.0);
      cov[j][i] = cov[i][j];
    }
#pragma endscop
}

int main(void)
{
  int n = N, m = M;
  real (*data)[M] = suite_alloc((size_t) N * M, sizeof(real));
  real (*cov)[M] = suite_alloc((size_t) M * M, sizeof(real));
  real *mean = suite_alloc((size_t) M, sizeof(real));

  fill(n, m, data);
  SUITE_TIME(kernel_covariance(n, m, (real) n, data, cov, mean));
  suite_output_real("cov", cov, (size_t) M * M);
  suite_output_real("mean", mean, (size_t) M);
  suite_finish();
  free(data);
  free(cov);
  free(mean);
  return 0;
}
