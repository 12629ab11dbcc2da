/* Shared by every file of the project: the printing of results, exactly (%a). */
#ifndef ARRAYS_H
#define ARRAYS_H

void print_array(const char *name, const double *values, int count);
void matmul(void);
void smooth(void);

#endif
