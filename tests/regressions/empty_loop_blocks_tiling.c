/* A loop that never runs kept the other loop nests of its region from being tiled.
 *
 * The second nest's condition is false for every value of n, so its statement's domain is
 * empty. Building the original order as a schedule, the member of that loop was an empty
 * union map, from which isl cannot build a MultiUnionPwAff ("cannot extract range space from
 * empty input"); the error was caught and the whole region left as it was, the perfectly
 * tileable first nest included. A third of the generated programs hit this.
 * Expected: the first nest tiled (4x4). Was: "isl could not handle this region", unchanged.
 *
 * Differential: --tile-sizes 4,4
 * Expect: tiled
 */
#include <stdio.h>

#ifndef N
#define N 11
#endif

static double A[N][N];

static void kernel(int n)
{
  int i, j;
#pragma scop
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++)
      A[i][j] = A[i][j] * 0.5 + (double) (i - j);
  for (i = 0; i < n; i++)
    if (i > i + 1)
      A[i][0] = 2.0;
#pragma endscop
}

int main(void)
{
  int i, j;
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      A[i][j] = (double) ((i * 7 + j * 3) % 11) / 4.0;
  kernel(N);
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      printf("A[%d][%d] = %a\n", i, j, A[i][j]);
  return 0;
}
