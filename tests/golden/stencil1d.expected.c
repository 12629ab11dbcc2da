/* A 1-D three-point stencil under a time loop: tiling time with space needs skewing. */
void smooth(int tsteps, int n, double A[n], double B[n])
{
  int t, i;
#pragma scop
#ifndef floord
#define floord(n, d) (((n) < 0) ? -((-(n) + (d) - 1) / (d)) : (n) / (d))
#endif
#ifndef max
#define max(x, y) ((x) > (y) ? (x) : (y))
#endif
#ifndef min
#define min(x, y) ((x) < (y) ? (x) : (y))
#endif
#define S0(t, i) B[(i)] = 0.25 * A[(i) - 1] + 0.5 * A[(i)] + 0.25 * A[(i) + 1]
#define S1(t, i) A[(i)] = B[(i)]
  for (int c0 = 0; c0 < tsteps; c0 += 8) {
    for (int c1 = 2 * c0, c1_end = min(2 * tsteps + n - 3, n + 2 * c0 + 13); c1 <= c1_end; c1 += 16) {
      for (int c2 = max(c0, -n + floord(n + c1, 2) + 1), c2_end = min(tsteps - 1, c0 + 7); c2 <= c2_end; c2++) {
        for (int c3 = max(c1, 2 * c2 + 1), c3_end = min(c1 + 15, n + 2 * c2 - 2); c3 <= c3_end; c3++) {
          S0(c2, -2 * c2 + c3);
        }
        for (int c3 = max(c1, 2 * c2 + 2), c3_end = min(c1 + 15, n + 2 * c2 - 1); c3 <= c3_end; c3++) {
          S1(c2, -2 * c2 + c3 - 1);
        }
      }
    }
  }
#undef S0
#undef S1
#pragma endscop
}
