/* deriche: Deriche's recursive smoothing filter of a w x h image: along each row a causal
 * and an anti-causal second-order recursion (feedback from the two previous outputs), summed;
 * then the same along each column of that result. The coefficients come from the filter's
 * width `alpha` and are computed before the region.
 * tiler: expect tiled (the recursions carry their state in scalars along a whole line, but
 * the two nests that sum the passes are plain 2-D loops)
 */
#include "harness.h"

#ifdef LARGE
#define W 1800
#define H 1400
#endif
#ifndef W
#define W 47
#endif
#ifndef H
#define H 39
#endif

static void fill(int w, int h, real image[W][H])
{
  for (int i = 0; i < w; i++)
    for (int j = 0; j < h; j++)
      image[i][j] = (real) ((i * 37 + j * 91 + 13) % 256) / 255;
}

static void kernel_deriche(int w, int h, real alpha, real image[W][H], real out[W][H],
                           real forward[W][H], real backward[W][H])
{
  int i, j;
  real decay = real_exp(-alpha), decay2 = real_exp(-2 * alpha);
  real gain = (1 - decay) * (1 - decay) / (1 + 2 * alpha * decay - decay2);
  real a0 = gain, a1 = gain * decay * (alpha - 1), a2 = gain * decay * (alpha + 1);
  real a3 = -gain * decay2, f1 = 2 * decay, f2 = -decay2;
  real in1, in2, out1, out2;
#pragma scop
  for (i = 0; i < w; i++) {
    in1 = 0.0;
    out1 = 0.0;
    out2 = 0.0;
    for (j = 0; j < h; j++) {
      forward[i][j] = a0 * image[i][j] + a1 * in1 + f1 * out1 + f2 * out2;
      in1 = image[i][j];
      out2 = out1;
      out1 = forward[i][j];
    }
  }
  for (i = 0; i < w; i++) {
    in1 = 0.0;
    in2 = 0.0;
    out1 = 0.0;
    out2 = 0.0;
    for (j = h - 1; j >= 0; j--) {
      backward[i][j] = a2 * in1 + a3 * in2 + f1 * out1 + f2 * out2;
      in2 = in1;
      in1 = image[i][j];
      out2 = out1;
      out1 = backward[i][j];
    }
  }
  for (i = 0; i < w; i++)
    for (j = 0; j < h; j++)
      out[i][j] = forward[i][j] + backward[i][j];
  for (j = 0; j < h; j++) {
    in1 = 0.0;
    out1 = 0.0;
    out2 = 0.0;
    for (i = 0; i < w; i++) {
      forward[i][j] = a0 * out[i][j] + a1 * in1 + f1 * out1 + f2 * out2;
      in1 = out[i][j];
      out2 = out1;
      out1 = forward[i][j];
    }
  }
  for (j = 0; j < h; j++) {
    in1 = 0.0;
    in2 = 0.0;
    out1 = 0.0;
    out2 = 0.0;
    for (i = w - 1; i >= 0; i--) {
      backward[i][j] = a2 * in1 + a3 * in2 + f1 * out1 + f2 * out2;
      in2 = in1;
      in1 = out[i][j];
      out2 = out1;
      out1 = backward[i][j];
    }
  }
  for (i = 0; i < w; i++)
    for (j = 0; j < h; j++)
      out[i][j] = forward[i][j] + backward[i][j];
#pragma endscop
}

int main(void)
{
  int w = W, h = H;
  real (*image)[H] = suite_alloc((size_t) W * H, sizeof(real));
  real (*out)[H] = suite_alloc((size_t) W * H, sizeof(real));
  real (*forward)[H] = suite_alloc((size_t) W * H, sizeof(real));
  real (*backward)[H] = suite_alloc((size_t) W * H, sizeof(real));

  fill(w, h, image);
  SUITE_TIME(kernel_deriche(w, h, 0.25, image, out, forward, backward));
  suite_output_real("out", out, (size_t) W * H);
  suite_finish();
  free(image);
  free(out);
  free(forward);
  free(backward);
  return 0;
}
