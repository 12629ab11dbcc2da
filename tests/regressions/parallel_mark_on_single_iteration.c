/* A recurrence along k ran in parallel: the parallel mark of a loop that isl does not emit
 * landed on the next loop, which carries a dependence.
 *
 * The band (k, i) is permutable; i takes one value, so its member is coincident and k's is
 * not. With --parallel the band is split before i and i's tile loop is marked parallel; that
 * loop carries nothing (it has one iteration) and passes the check. But isl emits no loop
 * for a dimension with one value, and the printer handed the mark's pragma to the first
 * `for` below it: `#pragma omp parallel for` ended up on the point loop of k, and the threads
 * raced on A. The pragma must go only on the loop of the marked member (or nowhere).
 * Expected: the same values as the original. Was: the second thread's half started from the
 * initial A[N/2] instead of the value the first half computes.
 *
 * Differential: --tile-sizes 4000000,4 --parallel
 * Expect: tiled
 */
#include <stdio.h>

#define N 4000000

static unsigned A[N + 1];

static void kernel(void)
{
  int i, k;
#pragma scop
  for (k = 0; k < 4000000; k++)
    for (i = 0; i < 1; i++)
      A[k + 1] = A[k] * 3u + 1u;
#pragma endscop
}

int main(void)
{
  int q;
  unsigned hash = 0;
  for (q = 0; q <= N; q++)
    A[q] = (unsigned) q;
  kernel();
  for (q = 0; q <= N; q++)
    hash = hash * 31u + A[q];
  printf("A[N/2 + 1] = %u\nA[N] = %u\nhash = %u\n", A[N / 2 + 1], A[N], hash);
  return 0;
}
