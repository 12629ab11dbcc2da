/* contraction: a tensor-times-matrix product along the middle mode,
 * C[a][b][c] = sum over d of A[a][d][c] * B[d][b].
 *
 * Each output element is cleared and then accumulates over d, the innermost loop, which walks
 * A and B with large strides. Exercises: 3-D arrays, a 4-deep imperfect nest (an init
 * statement at depth 3 above the depth-4 reduction), four different extents.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#ifndef NA
#define NA 200
#endif
#ifndef NB
#define NB 280
#endif
#ifndef NC
#define NC 240
#endif
#ifndef ND
#define ND 260
#endif

static double A[NA][ND][NC];
static double B[ND][NB];
static double C[NA][NB][NC];

static void init_arrays(void)
{
  int a, b, c, d;
  for (a = 0; a < NA; a++)
    for (d = 0; d < ND; d++)
      for (c = 0; c < NC; c++)
        A[a][d][c] = (double) ((a * 3 + d * (c + 1) + 1) % 17) / 17.0 - 0.5;
  for (d = 0; d < ND; d++)
    for (b = 0; b < NB; b++)
      B[d][b] = (double) ((d * (b + 2) + 5) % 23) / 23.0;
  for (a = 0; a < NA; a++)
    for (b = 0; b < NB; b++)
      for (c = 0; c < NC; c++)
        C[a][b][c] = -1.0;      /* overwritten by the kernel */
}

static void kernel_contraction(void)
{
  int a, b, c, d;
  struct timespec start, stop;

  clock_gettime(CLOCK_MONOTONIC, &start);
#pragma scop
  for (a = 0; a < NA; a++)
    for (b = 0; b < NB; b++)
      for (c = 0; c < NC; c++) {
        C[a][b][c] = 0.0;
        for (d = 0; d < ND; d++)
          C[a][b][c] += A[a][d][c] * B[d][b];
      }
#pragma endscop
  clock_gettime(CLOCK_MONOTONIC, &stop);
  fprintf(stderr, "kernel_time_s: %.6f\n",
          (stop.tv_sec - start.tv_sec) + 1e-9 * (stop.tv_nsec - start.tv_nsec));
}

int main(void)
{
  int a, b, c;
  double sum = 0.0;

  init_arrays();
  kernel_contraction();
  for (a = 0; a < NA; a++)
    for (b = 0; b < NB; b++)
      for (c = 0; c < NC; c++)
        sum += C[a][b][c] * (1 + (a * 11 + b * 7 + c) % 13);
#ifdef DUMP_ARRAYS
  /* Every output element exactly, in hexadecimal floating point: a difference in the
     last bit of one element is lost in the checksum but not here. */
  for (a = 0; a < NA; a++)
    for (b = 0; b < NB; b++)
      for (c = 0; c < NC; c++)
        printf("C[%d][%d][%d] = %a\n", a, b, c, C[a][b][c]);
#endif
  printf("checksum: %.17g\n", sum);
  return 0;
}
