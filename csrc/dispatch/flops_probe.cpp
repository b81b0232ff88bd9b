// The machine's float32 peak that benchmarks quote percentages of (flops_probe.h):
// zmm FMA chains on every thread. Uses common.h only; built for AVX-512 and reached only
// where avx512_supported() (kernel_switch.h) says the CPU has it.
#include "dispatch/flops_probe.h"

#include <omp.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
#include <immintrin.h>

namespace pynn {

double fma_peak_gflops(int threads, double seconds) {
    // 12 independent chains of zmm FMAs (more than latency x throughput on current
    // cores), repeated until `seconds` have passed; every thread runs its own chains.
    double total = 0.0, elapsed = 0.0;
    const long iters = 1 << 20;
#pragma omp parallel num_threads(threads > 0 ? threads : 1) reduction(+ : total) reduction(max : elapsed)
    {
        // Twelve named accumulators (an array would live in memory); the empty asm that
        // "may change" them keeps the compiler from folding the chains.
        const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
        __m512 a0 = _mm512_set1_ps(0.f), a1 = _mm512_set1_ps(1.f), a2 = _mm512_set1_ps(2.f), a3 = _mm512_set1_ps(3.f);
        __m512 a4 = _mm512_set1_ps(4.f), a5 = _mm512_set1_ps(5.f), a6 = _mm512_set1_ps(6.f), a7 = _mm512_set1_ps(7.f);
        __m512 a8 = _mm512_set1_ps(8.f), a9 = _mm512_set1_ps(9.f), a10 = _mm512_set1_ps(10.f), a11 = _mm512_set1_ps(11.f);
        const double t0 = omp_get_wtime();
        long reps = 0;
        double t = 0.0;
        do {
            for (long k = 0; k < iters; ++k) {
                a0 = _mm512_fmadd_ps(a0, m, c); a1 = _mm512_fmadd_ps(a1, m, c); a2 = _mm512_fmadd_ps(a2, m, c);
                a3 = _mm512_fmadd_ps(a3, m, c); a4 = _mm512_fmadd_ps(a4, m, c); a5 = _mm512_fmadd_ps(a5, m, c);
                a6 = _mm512_fmadd_ps(a6, m, c); a7 = _mm512_fmadd_ps(a7, m, c); a8 = _mm512_fmadd_ps(a8, m, c);
                a9 = _mm512_fmadd_ps(a9, m, c); a10 = _mm512_fmadd_ps(a10, m, c); a11 = _mm512_fmadd_ps(a11, m, c);
                __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));
                __asm__ volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
            }
            ++reps;
            t = omp_get_wtime() - t0;
        } while (t < seconds);
        __m512 sum = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                                   _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
        sum = _mm512_add_ps(sum, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
        volatile float sink = _mm512_reduce_add_ps(sum);
        (void)sink;
        total += static_cast<double>(reps) * iters * 12 * 32;
        elapsed = t;
    }
    return total / elapsed / 1e9;
}

}  // namespace pynn

#pragma GCC pop_options
#else
// Not GCC/Clang on x86: the kernels do not exist and avx512_supported() is false.
namespace pynn {
double fma_peak_gflops(int, double) { return 0.0; }
}  // namespace pynn
#endif
