/* floyd-warshall: all-pairs shortest path lengths in a weighted directed graph of n nodes,
 * dist[i][j] relaxed through every intermediate node k in turn (integer weights, so every
 * order of the same operations gives the same result).
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define N 1400
#endif
#ifndef N
#define N 53
#endif

/* No edge: a length larger than any path, small enough that adding two cannot overflow. */
#define NO_EDGE 100000000

static void fill(int n, int dist[N][N])
{
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      int weight = (i * 13 + j * 7 + 3) % 23;
      dist[i][j] = i == j ? 0 : (weight < 9 ? NO_EDGE : weight);
    }
}

static void kernel_floyd_warshall(int n, int dist[N][N])
{
  int i, j, k;
#pragma scop
  for (k = 0; k < n; k++)
    for (i = 0; i < n; i++)
      for (j = 0; j < n; j++)
        dist[i][j] = dist[i][k] + dist[k][j] < dist[i][j] ? dist[i][k] + dist[k][j]
                                                          : dist[i][j];
#pragma endscop
}

int main(void)
{
  int n = N;
  int (*dist)[N] = suite_alloc((size_t) N * N, sizeof(int));

  fill(n, dist);
  SUITE_TIME(kernel_floyd_warshall(n, dist));
  suite_output_int("dist", dist, (size_t) N * N);
  suite_finish();
  free(dist);
  return 0;
}
