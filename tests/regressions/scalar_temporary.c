/* A scalar temporary written before it is read in every iteration of a 2-deep nest.
 *
 * Each iteration's value of s is dead before the next iteration writes it, so the only real
 * dependences are inside one iteration and the nest is fully permutable. With memory-based
 * dependences only, the writes and reads of s in different iterations order every pair of
 * iterations, in both directions along j, and the nest was left untiled; the scalar's live
 * ranges (tiler/dependences.py) now stand in for its anti and output dependences.
 * Expected: tiled (2-deep band). Seen: "no tileable band", region left unchanged.
 */
#include <stdio.h>

#ifndef N
#define N 37
#endif

static double A[N][N], B[N][N], C[N][N];

static void kernel(int n)
{
  int i, j;
  double s;
#pragma scop
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++) {
      s = A[i][j] * 2.0;
      B[j][i] = s + C[i][j];
    }
#pragma endscop
}

int main(void)
{
  int i, j;
  double sum = 0.0;
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++) {
      A[i][j] = (double) ((i * (j + 1)) % 11) / 11.0;
      C[i][j] = (double) ((i + 3 * j) % 7) / 7.0;
    }
  kernel(N);
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++) {
#ifdef DUMP_ARRAYS
      printf("B[%d][%d] = %a\n", i, j, B[i][j]);
#endif
      sum += B[i][j] * (1 + (i * 7 + j) % 13);
    }
  printf("checksum: %.17g\n", sum);
  return 0;
}
