/* harness.h: what every program of the suite shares, so that each file holds only its kernel,
 * its sizes and its set-up.
 *
 *   real               the element type: double, or float with -DSUITE_FLOAT
 *   real_sqrt/exp/pow/sin  the math functions of that type
 *   suite_alloc        a zeroed heap block, or exit with a message
 *   SUITE_TIME(call)   runs `call` once and prints `kernel_time_s: <seconds>` on stderr
 *   suite_output_*     adds an output array to what main prints at the end
 *   suite_finish()     prints one `hash <array>: <hex>` line per output array (a hash of its
 *                      bytes, so two runs compare bit for bit) and then one line
 *                      `checksum: <array>=<weighted sum> ...` (%.17g, so a difference in the
 *                      last bits still shows, and a tolerance can be applied to it when two
 *                      compilers contract a*b+c differently)
 *
 * Sizes: each file sets its own macros under `#ifdef LARGE` (the bench: past the L2 cache,
 * a fraction of a second to a few seconds untiled at -O3) or a small default (the tests: a
 * run takes milliseconds); any macro given with -D wins over both.
 */
#ifndef SUITE_HARNESS_H
#define SUITE_HARNESS_H

#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef SUITE_FLOAT
typedef float real;
#define real_sqrt sqrtf
#define real_exp expf
#define real_pow powf
#define real_sin sinf
#else
typedef double real;
#define real_sqrt sqrt
#define real_exp exp
#define real_pow pow
#define real_sin sin
#endif

/* Room for the checksum line: a name and a %.17g number per output array. */
#define SUITE_CHECKSUM_CHARS 4096
/* The weights of the checksum's sum cycle with this period, so that a permutation of the
 * elements (a transposed result) changes the sum as well. */
#define SUITE_WEIGHT_PERIOD 17

static inline void *suite_alloc(size_t count, size_t element_bytes)
{
  void *block = calloc(count ? count : 1, element_bytes);
  if (block == NULL) {
    fprintf(stderr, "out of memory: %zu elements of %zu bytes\n", count, element_bytes);
    exit(2);
  }
  return block;
}

static inline double suite_seconds(void)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double) now.tv_sec + 1e-9 * (double) now.tv_nsec;
}

#define SUITE_TIME(call)                                                          \
  do {                                                                            \
    double suite_started_ = suite_seconds();                                      \
    call;                                                                         \
    fprintf(stderr, "kernel_time_s: %.6f\n", suite_seconds() - suite_started_);   \
  } while (0)

static char suite_checksum_text[SUITE_CHECKSUM_CHARS];
static size_t suite_checksum_used;

/* FNV-1a, 64 bits, over the bytes of an array. */
static inline uint64_t suite_hash_bytes(const void *data, size_t bytes)
{
  const unsigned char *byte = data;
  uint64_t hash = 14695981039346656037ull;
  for (size_t k = 0; k < bytes; k++) {
    hash ^= byte[k];
    hash *= 1099511628211ull;
  }
  return hash;
}

static inline void suite_record(const char *name, const void *data, size_t bytes, double sum)
{
  printf("hash %s: %016llx\n", name, (unsigned long long) suite_hash_bytes(data, bytes));
  int written = snprintf(suite_checksum_text + suite_checksum_used,
                         SUITE_CHECKSUM_CHARS - suite_checksum_used, " %s=%.17g", name, sum);
  if (written > 0)
    suite_checksum_used += (size_t) written;
  if (suite_checksum_used >= SUITE_CHECKSUM_CHARS) {
    fprintf(stderr, "too many output arrays for the checksum line\n");
    exit(2);
  }
}

static inline double suite_weight(size_t k)
{
  return 1.0 + (double) (k % SUITE_WEIGHT_PERIOD) / SUITE_WEIGHT_PERIOD;
}

/* Adds `count` reals starting at `data` (any shape, row-major) to the output. */
static inline void suite_output_real(const char *name, const void *data, size_t count)
{
  const real *value = data;
  double sum = 0.0;
  for (size_t k = 0; k < count; k++)
    sum += suite_weight(k) * (double) value[k];
  suite_record(name, data, count * sizeof(real), sum);
}

/* Adds `count` ints starting at `data` to the output. */
static inline void suite_output_int(const char *name, const void *data, size_t count)
{
  const int *value = data;
  double sum = 0.0;
  for (size_t k = 0; k < count; k++)
    sum += suite_weight(k) * (double) value[k];
  suite_record(name, data, count * sizeof(int), sum);
}

static inline void suite_finish(void)
{
  printf("checksum:%s\n", suite_checksum_text);
}

#endif
