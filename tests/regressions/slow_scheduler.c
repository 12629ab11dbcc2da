/* Two statements on one scalar in a four-deep nest with a strided innermost loop: isl's
 * scheduler ran for about 45 s, twice (with and without fusion), before the pass gave up and
 * kept the original order.
 *
 * The scheduler's budget of isl operations did not stop it: the time went into work that the
 * operation counter does not see, so a small region took one and a half minutes to tile. The
 * generator found one such program in a few hundred. Nothing here can be tiled (every
 * iteration reads and writes s), so leaving the region alone is right; taking long is not.
 * Expected: done within a few seconds. Was: about 90 s.
 *
 * Differential: --tile-sizes 4,4
 */
#include <stdio.h>

#ifndef N
#define N 7
#endif
#ifndef M
#define M 5
#endif

static double s;

static void kernel(void)
{
  int i, j, k, l;
#pragma scop
  for (i = 0; i < M; i++)
    for (j = 0; j < M; j++)
      for (k = i; k < N; k++)
        for (l = i - 1; l < k + 3; l += 2) {
          s = s + 1.0;
          if (i + j > 1)
            s = 0.0;
        }
#pragma endscop
}

int main(void)
{
  s = 0.25;
  kernel();
  printf("s = %a\n", s);
  return 0;
}
