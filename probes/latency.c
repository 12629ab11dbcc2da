/* Latency kernels of `tiler probe`: the timing loops behind the latency-vs-working-set curve.
 *
 * Built at run time as a shared library and driven from tiler/probe.py through ctypes; Python
 * chooses the working sets and repeats, C owns every timed loop so that no interpreter work is
 * measured. Two walks over a working set of `lines` cache lines:
 *
 *   chase     a dependent pointer chase around one random cycle through all the lines
 *             (Sattolo's shuffle, as lmbench's lat_mem_rd): the next address is the loaded value,
 *             so no prefetcher can guess it and no two loads overlap.
 *   triangle  the rows of the triangular loop nest `for i: for j in 0..i: touch line j` at the
 *             given row length: each line is reused after exactly `lines` other lines. Loads are
 *             made dependent through a word that is always zero, so they cannot overlap either,
 *             but their addresses ascend, which hardware prefetchers may still follow.
 *
 * and one streaming read of a working set (independent 16-byte loads in ascending order, the
 * way a vectorised loop over an array reads it), timed for its bandwidth.
 */

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

/* The chase pointer sits in the first word of a line, the triangle's zero in the second. */
#define CHASE_WORD 0
#define ZERO_WORD 1

/* Keeps the final pointer and sum observable so the compiler cannot drop the loops. */
volatile uintptr_t probe_sink;

/* Context switches of this thread so far: a sample that spans one measured someone else's time
 * too, or restarted on another core with cold private caches, and must be taken again. */
static long switches_so_far(void)
{
    struct rusage usage;
#ifdef RUSAGE_THREAD
    if (getrusage(RUSAGE_THREAD, &usage) != 0)
#else
    if (getrusage(RUSAGE_SELF, &usage) != 0)
#endif
        return 0;
    return usage.ru_nvcsw + usage.ru_nivcsw;
}

/* The context switches of this thread so far, for the caller to pass to chase_samples. */
long probe_switches(void)
{
    return switches_so_far();
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* splitmix64: a small, good generator; the shuffle only needs independence from the hardware. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Map `bytes` of zeroed memory aligned to `align` bytes; ask for transparent huge pages when
 * `want_huge`. Returns NULL on failure; *advised is 1 when the kernel accepted MADV_HUGEPAGE
 * (whether huge pages were really used is read back from /proc/self/smaps by the caller). */
void *probe_alloc(size_t bytes, size_t align, int want_huge, int *advised)
{
    size_t mapped = bytes + align;
    char *raw = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *advised = 0;
    if (raw == MAP_FAILED)
        return NULL;
    /* Trim the mapping to an aligned window so each 2 MiB of the buffer can be one huge page. */
    uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = start - (uintptr_t)raw;
    size_t tail = mapped - head - bytes;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((char *)start + bytes, tail);
#ifdef MADV_HUGEPAGE
    if (want_huge && madvise((void *)start, bytes, MADV_HUGEPAGE) == 0)
        *advised = 1;
#endif
    /* Fault every page in now so page faults are never timed. */
    memset((void *)start, 0, bytes);
    return (void *)start;
}

void probe_free(void *buffer, size_t bytes)
{
    munmap(buffer, bytes);
}

/* Link the first `lines` lines of `buffer` into one random cycle that starts and ends at line 0,
 * then leave the caches as a chase that had just walked round it would: the `warm_lines` lines
 * before line 0 in cycle order are read last, in that order, so the least recently used lines
 * are the next ones the chase visits. Those reads are independent (the order is known here),
 * so they overlap, where walking the cycle itself would pay a full miss per line: past the last
 * level this is ten times faster than a chase warm-up. The order is a uniformly random cyclic
 * permutation (Fisher-Yates over lines 1..lines-1 after line 0). Returns 0, or -1 when the
 * order array cannot be allocated. */
int chase_build(void *buffer, size_t lines, size_t line_bytes, uint64_t seed, size_t warm_lines)
{
    char *base = buffer;
    uint64_t state = seed;
    if (lines == 0)
        return 0;
    uint32_t *order = malloc(lines * sizeof *order);
    if (!order)
        return -1;
    for (size_t i = 0; i < lines; i++)
        order[i] = (uint32_t)i;
    for (size_t i = lines - 1; i > 1; i--) {
        size_t j = 1 + (size_t)(next_random(&state) % i);
        uint32_t swap = order[i];
        order[i] = order[j];
        order[j] = swap;
    }
    for (size_t i = 0; i < lines; i++) {
        size_t next = order[i + 1 < lines ? i + 1 : 0];
        *(void **)(base + (size_t)order[i] * line_bytes + CHASE_WORD * sizeof(void *)) =
            base + next * line_bytes;
    }
    uintptr_t sum = 0;
    if (warm_lines > lines)
        warm_lines = lines;
    for (size_t i = lines - warm_lines; i < lines; i++)
        sum += *(volatile uintptr_t *)(base + (size_t)order[i] * line_bytes);
    probe_sink = sum;
    free(order);
    return 0;
}

#define STEP8(p)                                                                              \
    p = *(void **)p; p = *(void **)p; p = *(void **)p; p = *(void **)p;                        \
    p = *(void **)p; p = *(void **)p; p = *(void **)p; p = *(void **)p;

/* Follow the cycle from `buffer` for `warm_steps` untimed loads, then take `count` timed samples
 * of `steps` loads each (counts rounded up to a multiple of 8): out[k] is the mean nanoseconds
 * per load of sample k and switched[k] the context switches during it. One warm-up serves every
 * sample: past the last level the warm-up is by far the longest part. A sample during which the
 * thread was switched out timed someone else too, and the other process may have evicted the
 * working set: it is retaken (`attempts` tries in all) after `rewarm_steps` untimed loads. */
void chase_samples(void *buffer, size_t warm_steps, size_t steps, size_t count,
                   size_t rewarm_steps, int attempts, long since, double *out, long *switched)
{
    void *p = buffer;
    for (size_t i = 0; i < warm_steps; i += 8) {
        STEP8(p)
    }
    for (size_t k = 0; k < count; k++) {
        for (int attempt = 0; attempt < attempts; attempt++) {
            if (attempt)
                for (size_t i = 0; i < rewarm_steps; i += 8) {
                    STEP8(p)
                }
            /* The first try also answers for the build and the warm-up (`since`, read before
             * them): a switch there let another process evict what they had loaded. */
            long before = k == 0 && attempt == 0 ? since : switches_so_far();
            double start = now_ns();
            for (size_t i = 0; i < steps; i += 8) {
                STEP8(p)
            }
            out[k] = (now_ns() - start) / (double)((steps + 7) / 8 * 8);
            switched[k] = switches_so_far() - before;
            if (switched[k] == 0)
                break;
        }
    }
    probe_sink = (uintptr_t)p;
}

/* Walk the row `for j in 0..lines: touch line j` once untimed then `rows` times timed; return the
 * mean nanoseconds per load and set *switches to the context switches while timing. */
double triangle_time(void *buffer, size_t lines, size_t line_bytes, size_t rows, long *switches)
{
    const char *base = (const char *)buffer + ZERO_WORD * sizeof(uintptr_t);
    uintptr_t carry = 0;
    for (size_t j = 0; j < lines; j++)
        carry = *(const uintptr_t *)(base + j * line_bytes + carry);
    long switched = switches_so_far();
    double start = now_ns();
    for (size_t row = 0; row < rows; row++)
        for (size_t j = 0; j < lines; j++)
            carry = *(const uintptr_t *)(base + j * line_bytes + carry);
    double elapsed = now_ns() - start;
    *switches = switches_so_far() - switched;
    probe_sink = carry;
    return elapsed / (double)(rows * lines);
}


/* Sixteen bytes, the SSE width every x86-64 and AArch64 part has: GCC and Clang lower the vector
 * type to plain 16-byte loads and adds without any -m flag. */
typedef uint64_t stream_vector __attribute__((vector_size(16)));

/* Read the first `bytes` of `buffer` (a multiple of 64) once untimed, then `passes` times timed,
 * with four independent sums so that loads, not additions, set the pace; return the nanoseconds
 * of the timed passes and set *switches to the context switches during them. */
double stream_time(const void *buffer, size_t bytes, size_t passes, long *switches)
{
    const stream_vector *v = buffer;
    size_t count = bytes / sizeof(stream_vector);
    stream_vector a = {0, 0}, b = {0, 0}, c = {0, 0}, d = {0, 0};
    for (size_t i = 0; i + 4 <= count; i += 4) {
        a += v[i]; b += v[i + 1]; c += v[i + 2]; d += v[i + 3];
    }
    long before = switches_so_far();
    double start = now_ns();
    for (size_t pass = 0; pass < passes; pass++) {
        for (size_t i = 0; i + 4 <= count; i += 4) {
            a += v[i]; b += v[i + 1]; c += v[i + 2]; d += v[i + 3];
        }
        /* Keeps the compiler from folding the passes into one. */
#if defined(__x86_64__) || defined(__i386__)
        __asm__ volatile("" : "+x"(a), "+x"(b), "+x"(c), "+x"(d));
#elif defined(__aarch64__)
        __asm__ volatile("" : "+w"(a), "+w"(b), "+w"(c), "+w"(d));
#endif
    }
    double elapsed = now_ns() - start;
    *switches = switches_so_far() - before;
    stream_vector sum = a + b + c + d;
    probe_sink = (uintptr_t)(sum[0] + sum[1]);
    return elapsed;
}
