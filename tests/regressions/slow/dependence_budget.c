/* The dependence analysis of this region used more than 10 s of processor time within the
 * region's budget of isl operations.
 *
 * Strided, down-counting loops under conditions, reads through data-dependent subscripts and
 * a scalar written behind ?:. isl counts about 2 million operations a second here, so the
 * budget of 20 million then in force (tiler/pipeline.py, REGION_MAX_OPERATIONS) took 10 s;
 * it is 5 million now, and the region is left as it is after about 3 s.
 * Expected: done within a few seconds. Was: stopped after 10 s of processor time by the test.
 *
 * Differential: --tile-sizes 5,16,4
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#define N 6
#define M 6

static unsigned A[9][4];
static unsigned B[15][10][13];
static unsigned C[17][10][9];
static unsigned D[3][17];
static unsigned s;
static unsigned t;

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
  for (q0 = 0; q0 < 9; q0++) for (q1 = 0; q1 < 4; q1++) { A[q0][q1] = (unsigned)(q * 2654435761u + 12345u); q++; }
  for (q0 = 0; q0 < 15; q0++) for (q1 = 0; q1 < 10; q1++) for (q2 = 0; q2 < 13; q2++) { B[q0][q1][q2] = (unsigned)(q * 2654435761u + 12345u); q++; }
  for (q0 = 0; q0 < 17; q0++) for (q1 = 0; q1 < 10; q1++) for (q2 = 0; q2 < 9; q2++) { C[q0][q1][q2] = (unsigned)(q * 2654435761u + 12345u); q++; }
  for (q0 = 0; q0 < 3; q0++) for (q1 = 0; q1 < 17; q1++) { D[q0][q1] = (unsigned)(q * 2654435761u + 12345u); q++; }
  s = 1u;
  t = 4u;
  (void)q;
}

static void print_hashes(void)
{
  int q0, q1, q2;
  unsigned long long h, all = 0;
  h = 0;
  for (q0 = 0; q0 < 9; q0++) for (q1 = 0; q1 < 4; q1++) h = mix(h, (unsigned)A[q0][q1]);
  printf("A %016llx\n", h);
  all = mix(all, h);
  h = 0;
  for (q0 = 0; q0 < 15; q0++) for (q1 = 0; q1 < 10; q1++) for (q2 = 0; q2 < 13; q2++) h = mix(h, (unsigned)B[q0][q1][q2]);
  printf("B %016llx\n", h);
  all = mix(all, h);
  h = 0;
  for (q0 = 0; q0 < 17; q0++) for (q1 = 0; q1 < 10; q1++) for (q2 = 0; q2 < 9; q2++) h = mix(h, (unsigned)C[q0][q1][q2]);
  printf("C %016llx\n", h);
  all = mix(all, h);
  h = 0;
  for (q0 = 0; q0 < 3; q0++) for (q1 = 0; q1 < 17; q1++) h = mix(h, (unsigned)D[q0][q1]);
  printf("D %016llx\n", h);
  all = mix(all, h);
  h = s;
  printf("s %016llx\n", h);
  all = mix(all, h);
  h = t;
  printf("t %016llx\n", h);
  all = mix(all, h);
  printf("checksum: %016llx\n", all);
}
static void kernel(void)
{
  int i, j, k, l, c0, t1, S0;
#pragma scop
  for (i = M; i >= 0; i -= 2) {
    for (int j = -2; (N < i + 2 ? N : i + 2) > j; j = j + 3) {
      if (j > N - 2) {
        for (int t1 = -j + i - 1; j + 1 >= t1; t1 += 2) {
          C[2 * i + 3][4][M - i + 1] *= (unsigned)(-1);
        }
        if ((j + i + 2) % 2 == 1) {
          for (c0 = 0; c0 <= 1; c0 += 3) {
            for (l = M - 1; l > 2 * i - 1; l = l - 2) {
              if ((c0 + l - 1) % 3 == 2) {
                C[N - i + 2][j + 3][c0 + 2] *= A[i + 1][(unsigned)((C[N - i + 1][j + 3][c0 + 2] > s ? C[N - i + 1][j + 3][c0 + 2] : s)) % 4u];
              }
            }
          }
        }
      } else {
        for (l = (N + 1) / 2; l > j - 1; l = l - 3) {
          if (((i + l + 1) % 3 == 0) || ((l - 1) % 2 == 0)) {
            C[i + l + 4][5][3] *= (unsigned)(2 * M + j);
            s = ((B[1][j + 3][2 * l + 5] > D[1][2 * j + 5] ? B[1][j + 3][2 * l + 5] : D[1][2 * j + 5]) > C[M - j + 2][(unsigned)(B[2 * i + 1][5][l + 6]) % 10u][N - i + 1] ? (B[1][j + 3][2 * l + 5] > D[1][2 * j + 5] ? B[1][j + 3][2 * l + 5] : D[1][2 * j + 5]) : C[M - j + 2][(unsigned)(B[2 * i + 1][5][l + 6]) % 10u][N - i + 1]);
          }
        }
      }
    }
  }
#pragma endscop
}

int main(void)
{
  init();
  kernel();
  print_hashes();
  return 0;
}
