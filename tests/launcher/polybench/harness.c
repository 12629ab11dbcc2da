#include <stdio.h>
#include "harness.h"

void harness_print(const char *name, const ELEMENT *values, int count)
{
  int i;
  printf("%s", name);
  for (i = 0; i < count; i++)
    printf(" %a", (double) values[i]);
  printf("\n");
}
