#include <stdio.h>
#include "arrays.h"

/* No region here: the launcher hands this file to the compiler as it is. */
void print_array(const char *name, const double *values, int count)
{
  int i;
  printf("%s:", name);
  for (i = 0; i < count; i++)
    printf(" %a", values[i]);
  printf("\n");
}
