// exp on AVX-512 registers, shared by the AVX-512 kernel files (losses_avx512.cpp,
// activations_avx512.cpp). Include it at file scope after their
// `#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")`. Uses kernels/ only.
#pragma once
#include <immintrin.h>

namespace pynn {
namespace avx512 {

// e^r - 1 on |r| <= ln(2) / 2 and the n of x = n ln 2 + r, for -104 <= x <= 0: Cephes'
// expf reduction (ln 2 in two parts) and its degree-6 polynomial, r + r^2 p(r) (the "- 1"
// never computed, so no cancellation near 0). exp and expm1 below both start here.
static inline __m512 exp_reduced(__m512 x, __m512* n_out) {
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    *n_out = n;
    return _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
}

// exp(x) for x <= 0 and not NaN (a softmax's z - max z): (1 + (e^r - 1)) times 2^n by
// vscalefps (0 once 2^n is below float's smallest subnormal). Within 2 ulp of float32
// (tests/test_numerics.py checks the gradients it gives to 3e-7).
static inline __m512 exp_nonpositive(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));  // exp(-104) rounds to 0 in float32
    __m512 n;
    const __m512 q = exp_reduced(x, &n);
    return _mm512_scalef_ps(_mm512_add_ps(q, _mm512_set1_ps(1.0f)), n);
}

// e^x - 1 for x <= 0 and not NaN (ELU): 2^n (e^r - 1) + (2^n - 1) in one fma, where 2^n - 1
// is exact for n >= -24 (and rounds to -1 below, where the result is -1 too); n = 0 gives
// e^r - 1 itself, so no cancellation near 0. -0 gives +0 (the caller keeps x's zero).
static inline __m512 expm1_nonpositive(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));  // e^-104 - 1 is -1 in float32
    __m512 n;
    const __m512 q = exp_reduced(x, &n);
    const __m512 two_n = _mm512_scalef_ps(_mm512_set1_ps(1.0f), n);
    return _mm512_fmadd_ps(two_n, q, _mm512_sub_ps(two_n, _mm512_set1_ps(1.0f)));
}

}  // namespace avx512
}  // namespace pynn
