/* A symmetric rank-2k update, written against the harness: the sizes come from -D flags. */
#include "harness.h"

static void initialise(int n, int m, ELEMENT MATRIX(C, SIZE_N, SIZE_N),
                       ELEMENT MATRIX(A, SIZE_N, SIZE_M), ELEMENT MATRIX(B, SIZE_N, SIZE_M))
{
  int i, j;
  for (i = 0; i < n; i++) {
    for (j = 0; j < m; j++) {
      A[i][j] = (ELEMENT) ((i * j + 1) % n) / n;
      B[i][j] = (ELEMENT) ((i * j + 2) % m) / m;
    }
    for (j = 0; j < n; j++)
      C[i][j] = (ELEMENT) ((i * j + 3) % n) / m;
  }
}

static void rank2k(int n, int m, ELEMENT alpha, ELEMENT beta, ELEMENT MATRIX(C, SIZE_N, SIZE_N),
                   ELEMENT MATRIX(A, SIZE_N, SIZE_M), ELEMENT MATRIX(B, SIZE_N, SIZE_M))
{
  int i, j, k;
#pragma scop
  for (i = 0; i < BOUND_N; i++) {
    for (j = 0; j <= i; j++)
      C[i][j] *= beta;
    for (k = 0; k < BOUND_M; k++)
      for (j = 0; j <= i; j++)
        C[i][j] += A[j][k] * alpha * B[i][k] + B[j][k] * alpha * A[i][k];
  }
#pragma endscop
}

int main(void)
{
  static ELEMENT A[SIZE_N][SIZE_M], B[SIZE_N][SIZE_M], C[SIZE_N][SIZE_N];
  initialise(SIZE_N, SIZE_M, C, A, B);
  rank2k(SIZE_N, SIZE_M, CONSTANT(1.5), CONSTANT(1.2), C, A, B);
  harness_print("C", &C[0][0], SIZE_N * SIZE_N);
  return 0;
}
