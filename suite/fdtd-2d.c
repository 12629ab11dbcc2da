/* fdtd-2d: tmax steps of the 2-D finite-difference time-domain (Yee) scheme for a transverse
 * electric wave: the electric fields ex, ey are advanced from the curl of the magnetic field
 * hz, then hz from the curl of the new electric fields; a source drives the row ey[0][*].
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define TMAX 160
#define NX 1400
#define NY 1600
#endif
#ifndef TMAX
#define TMAX 11
#endif
#ifndef NX
#define NX 31
#endif
#ifndef NY
#define NY 37
#endif

static void fill(int tmax, int nx, int ny, real ex[NX][NY], real ey[NX][NY], real hz[NX][NY],
                 real source[TMAX])
{
  for (int t = 0; t < tmax; t++)
    source[t] = real_sin(0.3 * t);
  for (int i = 0; i < nx; i++)
    for (int j = 0; j < ny; j++) {
      ex[i][j] = (real) ((i * 3 + j) % 17) / 17;
      ey[i][j] = (real) ((i + j * 5 + 2) % 19) / 19;
      hz[i][j] = (real) ((i * 7 + j * 2 + 1) % 23) / 23;
    }
}

static void kernel_fdtd_2d(int tmax, int nx, int ny, real ce, real ch, real ex[NX][NY],
                           real ey[NX][NY], real hz[NX][NY], real source[TMAX])
{
  int t, i, j;
#pragma scop
  for (t = 0; t < tmax; t++) {
    for (j = 0; j < ny; j++)
      ey[0][j] = source[t];
    for (i = 1; i < nx; i++)
      for (j = 0; j < ny; j++)
        ey[i][j] = ey[i][j] - ce * (hz[i][j] - hz[i - 1][j]);
    for (i = 0; i < nx; i++)
      for (j = 1; j < ny; j++)
        ex[i][j] = ex[i][j] - ce * (hz[i][j] - hz[i][j - 1]);
    for (i = 0; i < nx - 1; i++)
      for (j = 0; j < ny - 1; j++)
        hz[i][j] = hz[i][j] - ch * (ex[i][j + 1] - ex[i][j] + ey[i + 1][j] - ey[i][j]);
  }
#pragma endscop
}

int main(void)
{
  int tmax = TMAX, nx = NX, ny = NY;
  real (*ex)[NY] = suite_alloc((size_t) NX * NY, sizeof(real));
  real (*ey)[NY] = suite_alloc((size_t) NX * NY, sizeof(real));
  real (*hz)[NY] = suite_alloc((size_t) NX * NY, sizeof(real));
  real *source = suite_alloc((size_t) TMAX, sizeof(real));

  fill(tmax, nx, ny, ex, ey, hz, source);
  SUITE_TIME(kernel_fdtd_2d(tmax, nx, ny, 0.45, 0.65, ex, ey, hz, source));
  suite_output_real("ex", ex, (size_t) NX * NY);
  suite_output_real("ey", ey, (size_t) NX * NY);
  suite_output_real("hz", hz, (size_t) NX * NY);
  suite_finish();
  free(ex);
  free(ey);
  free(hz);
  free(source);
  return 0;
}
