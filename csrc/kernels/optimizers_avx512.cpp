// The Adam/AdamW update of one 32-output panel of a dense layer's W on AVX-512
// (optimizers.h, avx512::adam_panel_rows). Uses kernels/ only; built for AVX-512 and reached
// only where dispatch/ found the CPU has it.
#include <limits>
#include <stdexcept>

#include "kernels/optimizers.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
#include "kernels/avx512_internal.h"

namespace pynn {
namespace avx512 {

void adam_panel_rows(float* W, const float* G, float* M, float* V, idx O, idx I, idx panel, const AdamCoefficients<float>& a) {
    // The panel's rows are one contiguous block of W: Adam streams through it (the
    // prefetchers follow 4 sequential streams; a tile-wise walk over 128 short
    // segments measured slower), then the caller packs the panel, now in L1/L2. The loop is
    // memory-bound (p, g, m, v of a large layer live in L3): rsqrt/rcp estimates in
    // place of vsqrtps/vdivps measured no faster, so the exact operations stay.
    const __m512 l2 = _mm512_set1_ps(a.l2), omb1 = _mm512_set1_ps(a.one_minus_b1), b2 = _mm512_set1_ps(a.b2);
    const __m512 omb2 = _mm512_set1_ps(a.one_minus_b2), inv = _mm512_set1_ps(a.inv_bc2_sqrt);
    const __m512 eps = _mm512_set1_ps(a.eps), keep = _mm512_set1_ps(a.keep), step = _mm512_set1_ps(a.step_size);
    const __m512 kept_from = _mm512_set1_ps(state_floor<float>());
    const __m512 tiny = _mm512_set1_ps(std::numeric_limits<float>::min());
    const idx o0 = panel * kNR, rows = imin(kNR, O - o0);
    const idx lo = o0 * I, n = rows * I;
    for (idx i = 0; i < n; i += 16) {
        const __mmask16 km = first_n(static_cast<int>(imin(16, n - i)));
        const idx at = lo + i;
        const __m512 p0 = _mm512_maskz_loadu_ps(km, W + at);
        const __m512 g = _mm512_add_ps(_mm512_maskz_loadu_ps(km, G + at), _mm512_mul_ps(l2, p0));
        __m512 m = _mm512_maskz_loadu_ps(km, M + at);
        m = _mm512_add_ps(m, _mm512_mul_ps(omb1, _mm512_sub_ps(g, m)));
        __m512 v = _mm512_maskz_loadu_ps(km, V + at);
        v = _mm512_add_ps(_mm512_mul_ps(b2, v), _mm512_mul_ps(_mm512_mul_ps(omb2, g), g));
        // flush_below_floor for m, flush_subnormal for v (optimizers.h): |x| < c is false
        // for NaN, which is kept.
        m = _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(_mm512_abs_ps(m), kept_from, _CMP_LT_OQ), _mm512_setzero_ps());
        v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(_mm512_abs_ps(v), tiny, _CMP_LT_OQ), _mm512_setzero_ps());
        const __m512 denom = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(v), inv), eps);
        const __m512 p1 = _mm512_sub_ps(_mm512_mul_ps(p0, keep), _mm512_div_ps(_mm512_mul_ps(step, m), denom));
        _mm512_mask_storeu_ps(M + at, km, m);
        _mm512_mask_storeu_ps(V + at, km, v);
        _mm512_mask_storeu_ps(W + at, km, p1);
    }
}

}  // namespace avx512
}  // namespace pynn

#pragma GCC pop_options
#else
// Not GCC/Clang on x86: the kernels do not exist and avx512_supported() is false.
namespace pynn {
namespace avx512 {
void adam_panel_rows(float*, const float*, float*, float*, idx, idx, idx, const AdamCoefficients<float>&) {
    throw std::logic_error("AVX-512 kernels not built");
}
}  // namespace avx512
}  // namespace pynn
#endif
