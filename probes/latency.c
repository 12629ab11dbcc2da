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
 */

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
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

/* Link the first `lines` lines of `buffer` into one random cycle (Sattolo's algorithm: every
 * permutation it yields is a single cycle, so the chase visits every line once per lap). */
void chase_build(void *buffer, size_t lines, size_t line_bytes, uint64_t seed)
{
    char *base = buffer;
    size_t words = line_bytes / sizeof(uintptr_t);
    uintptr_t *word = buffer;
    uint64_t state = seed;
    if (lines == 0)
        return;
    /* Shuffle line numbers in place, one per line, then turn them into addresses. */
    for (size_t i = 0; i < lines; i++)
        word[i * words + CHASE_WORD] = i;
    for (size_t i = lines - 1; i > 0; i--) {
        size_t j = (size_t)(next_random(&state) % i);
        uintptr_t swap = word[i * words + CHASE_WORD];
        word[i * words + CHASE_WORD] = word[j * words + CHASE_WORD];
        word[j * words + CHASE_WORD] = swap;
    }
    for (size_t i = 0; i < lines; i++) {
        uintptr_t successor = word[i * words + CHASE_WORD];
        word[i * words + CHASE_WORD] = (uintptr_t)(base + successor * line_bytes);
    }
}

#define STEP8(p)                                                                              \
    p = *(void **)p; p = *(void **)p; p = *(void **)p; p = *(void **)p;                        \
    p = *(void **)p; p = *(void **)p; p = *(void **)p; p = *(void **)p;

/* Follow the cycle from `buffer` for `warm_steps` untimed then `steps` timed loads (both rounded
 * up to a multiple of 8); return the mean nanoseconds per timed load and set *switches to the
 * context switches during the timed loads. */
double chase_time(void *buffer, size_t warm_steps, size_t steps, long *switches)
{
    void *p = buffer;
    for (size_t i = 0; i < warm_steps; i += 8) {
        STEP8(p)
    }
    long switched = switches_so_far();
    double start = now_ns();
    for (size_t i = 0; i < steps; i += 8) {
        STEP8(p)
    }
    double elapsed = now_ns() - start;
    *switches = switches_so_far() - switched;
    probe_sink = (uintptr_t)p;
    return elapsed / (double)((steps + 7) / 8 * 8);
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
