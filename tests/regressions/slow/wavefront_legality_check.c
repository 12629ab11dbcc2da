/* Checking the legality of a wavefront schedule took minutes.
 *
 * With --parallel, the second band here (over S0, which has no parallel tile loop) runs its
 * tiles in wavefronts. The legality check asked isl whether the dependences are a subset of
 * the whole order of the tiled schedule (is_legal in tiler/schedule.py), and isl did not
 * answer within minutes; mapping each dependence to the times of its two ends and checking
 * those go forward answers in milliseconds, and is what is_legal does now. The region's isl
 * operation budget did not stop it (that part of isl is not counted).
 * Expected: done within a second. Was: stopped after 10 s of processor time by the test
 * (minutes without a limit).
 *
 * Differential: --tile-sizes 7 --parallel
 * Differential: --tile-sizes 1000 --parallel
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MIN(x, y) ((x) < (y) ? (x) : (y))

static double A[10];
static double B[9][9][10];
static double C[9][9];
static double s;

static unsigned long long mix(unsigned long long h, unsigned long long v)
{
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h * 0x100000001b3ULL;
}

static unsigned long long bits_of(double x)
{
  unsigned long long bits;
  if (x != x)
    return 0x7ff8dead;
  memcpy(&bits, &x, sizeof bits);
  return bits;
}

static void init(void)
{
  int q0, q1, q2;
  unsigned long long q = 0;
  for (q0 = 0; q0 < 10; q0++) { A[q0] = (double)((double)((q * 37 + 11) % 101) / 50.0 - 1.0); q++; }
  for (q0 = 0; q0 < 9; q0++) for (q1 = 0; q1 < 9; q1++) for (q2 = 0; q2 < 10; q2++) { B[q0][q1][q2] = (double)((double)((q * 37 + 11) % 101) / 50.0 - 1.0); q++; }
  for (q0 = 0; q0 < 9; q0++) for (q1 = 0; q1 < 9; q1++) { C[q0][q1] = (double)((double)((q * 37 + 11) % 101) / 50.0 - 1.0); q++; }
  s = 0.25;
  (void)q;
}

static void print_hashes(void)
{
  int q0, q1, q2;
  unsigned long long h, all = 0;
  h = 0;
  for (q0 = 0; q0 < 10; q0++) h = mix(h, bits_of(A[q0]));
  printf("A %016llx\n", h);
  all = mix(all, h);
  h = 0;
  for (q0 = 0; q0 < 9; q0++) for (q1 = 0; q1 < 9; q1++) for (q2 = 0; q2 < 10; q2++) h = mix(h, bits_of(B[q0][q1][q2]));
  printf("B %016llx\n", h);
  all = mix(all, h);
  h = 0;
  for (q0 = 0; q0 < 9; q0++) for (q1 = 0; q1 < 9; q1++) h = mix(h, bits_of(C[q0][q1]));
  printf("C %016llx\n", h);
  all = mix(all, h);
  h = bits_of(s);
  printf("s %016llx\n", h);
  all = mix(all, h);
  printf("checksum: %016llx\n", all);
}
static void kernel(int n, int m)
{
  int i, j, k, l, c0, t1, S0;
#pragma scop
  for (i = 0; 6 >= i; i++) {
    for (j = 0; j <= n; j++) {
      B[j + 1][i + 1][j + 2] = (B[i + 1][m - i + 1][j + 1] + sqrt(fabs(A[j + 1])));
      for (S0 = MIN(m, j + 1); S0 >= 0; S0--) {
        C[i + 1][j + 1] += (s * A[i + 2]);
      }
    }
  }
#pragma endscop
}

int main(void)
{
  init();
  kernel(6, 6);
  print_hashes();
  return 0;
}
