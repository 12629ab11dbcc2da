#include "arrays.h"
#include "sizes.h"

static double wave[POINTS], next[POINTS];

void smooth(void)
{
  int t, i;
  for (i = 0; i < POINTS; i++)
    wave[i] = (double) ((i * 13) % 29) / 29.0;
#pragma scop
  for (t = 0; t < STEPS; t++) {
    for (i = 1; i < POINTS - 1; i++)
      next[i] = 0.25 * wave[i - 1] + 0.5 * wave[i] + 0.25 * wave[i + 1];
    for (i = 1; i < POINTS - 1; i++)
      wave[i] = next[i];
  }
#pragma endscop
  print_array("wave", wave, POINTS);
}
