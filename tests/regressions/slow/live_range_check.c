/* Checking that a candidate schedule keeps a scalar's live ranges apart took minutes.
 *
 * t is a scalar temporary of a strided, down-counting nest (t += D[..]; D[..] = t). For isl's
 * schedule of the nest, live_ranges_intact (tiler/dependences.py) asked, on statement
 * instances and with the schedule's whole order, whether a write of t falls inside another
 * write's live range, and isl did not answer within minutes. The check now maps each live
 * range to the times of its ends and looks for a write time strictly between: under a second.
 * The tiled code of this nest still takes isl's AST generator longer than the pass allows, so
 * the region is left as it is.
 * Expected: done within seconds. Was: stopped after 10 s of processor time by the test
 * (minutes without a limit).
 *
 * Differential: --tile-sizes 1000,16,3
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#define N 6
#define M 6
#define MIN(x, y) ((x) < (y) ? (x) : (y))
#define MAX(x, y) ((x) > (y) ? (x) : (y))

static unsigned A[19][19];
static unsigned C[10][17][15];
static unsigned D[15][10];
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
  for (q0 = 0; q0 < 19; q0++) for (q1 = 0; q1 < 19; q1++) { A[q0][q1] = (unsigned)(q * 2654435761u + 12345u); q++; }
  for (q0 = 0; q0 < 10; q0++) for (q1 = 0; q1 < 17; q1++) for (q2 = 0; q2 < 15; q2++) { C[q0][q1][q2] = (unsigned)(q * 2654435761u + 12345u); q++; }
  for (q0 = 0; q0 < 15; q0++) for (q1 = 0; q1 < 10; q1++) { D[q0][q1] = (unsigned)(q * 2654435761u + 12345u); q++; }
  s = 1u;
  t = 4u;
  (void)q;
}

static void print_hashes(void)
{
  int q0, q1, q2;
  unsigned long long h, all = 0;
  h = 0;
  for (q0 = 0; q0 < 19; q0++) for (q1 = 0; q1 < 19; q1++) h = mix(h, (unsigned)A[q0][q1]);
  printf("A %016llx\n", h);
  all = mix(all, h);
  h = 0;
  for (q0 = 0; q0 < 10; q0++) for (q1 = 0; q1 < 17; q1++) for (q2 = 0; q2 < 15; q2++) h = mix(h, (unsigned)C[q0][q1][q2]);
  printf("C %016llx\n", h);
  all = mix(all, h);
  h = 0;
  for (q0 = 0; q0 < 15; q0++) for (q1 = 0; q1 < 10; q1++) h = mix(h, (unsigned)D[q0][q1]);
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
    for (int j = -2; MIN(N, i + 2) > j; j = j + 3) {
      for (k = i + j; 0 <= k; k -= 2) {
        if (((k + j - 1) % 3 == 2) || ((j + k - 2) % 2 == 1)) {
          for (int l = MAX(0, j); k + j + 1 > l; l++) {
            t += D[2 * i + 1][j + 3];
            C[i + 1][M - j + 3][k + 2] += A[l + 1][l + 1];
            D[i + 2][j + 3] = t;
          }
          C[i + 2][2 * j + 5][i + 1] += s;
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

