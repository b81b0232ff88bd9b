// Sigmoid, tanh, SiLU, GELU, softplus, ELU and LeakyReLU forward, and SiLU, GELU, softplus,
// ELU and LeakyReLU backward, on AVX-512, float32 (activations.h,
// avx512::activation_forward_rows / activation_backward_rows): the loops activations.cpp
// sends float32 to on CPUs with AVX-512. The portable loop calls libm one element at a
// time (and branches on x's sign: ELU's and LeakyReLU's derivative stayed scalar): the
// benchmark network with tanh took 0.477 s an epoch at batch 128 against 0.204 s with ReLU,
// with softplus 0.35-0.41 s and ELU 0.30-0.33 s against 0.16 (AMD EPYC Zen 5, AMX-BF16: no).
// Here exp is avx512_exp.h's (within 2 ulp). Over all 2^32 inputs sigmoid is within 2.40
// ulp of the exact value and tanh within 1.51 (glibc's expf/tanhf loop: 2.40 and 2.19);
// SiLU is x times that sigmoid, as the portable formula, so it is as accurate as the
// portable one (3.6 ulp, and tens of ulps where the sigmoid is subnormal, x < -87, in
// both). GELU: see normal16. Softplus within 1.71 ulp (log1p_unit16), ELU within 0.86
// (expm1_nonpositive), softplus's derivative (the sigmoid) within 2.40. The bits differ
// from libm's; LeakyReLU's, and ELU's and LeakyReLU's derivatives (no libm in them), are
// the portable loop's. NaN stays NaN (quieted); +-inf give the limits; -0 gives what the
// portable code gives. Uses kernels/ only; built for AVX-512 and reached only where
// dispatch/ found the CPU has it.
#include "kernels/activations.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
#include "kernels/avx512_internal.h"
#include "kernels/avx512_exp.h"

namespace pynn {
namespace avx512 {
namespace {

// c[0] x^(N-1) + ... + c[N-1] by Horner's rule, one fma per coefficient (highest first):
// the polynomials below, in the order of operations (and so the bits) written out before.
template <int N>
inline __m512 horner16(__m512 x, const float (&c)[N]) {
    __m512 p = _mm512_set1_ps(c[0]);
    for (int i = 1; i < N; ++i) p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(c[i]));
    return p;
}

// sigmoid(x) = 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below: both from e = exp(-|x|),
// which never overflows (the portable sigmoid's two branches).
inline __m512 sigmoid16(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(x)));
    const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    // One divide for both branches (e * (1 / (1 + e)) would round twice: 2.83 ulp, not 2.40).
    return _mm512_div_ps(_mm512_mask_blend_ps(neg, one, e), _mm512_add_ps(one, e));
}

// tanh(x): for |x| < 0.625 Cephes' tanhf polynomial x + x^3 P(x^2); above it
// (1 - e) / (1 + e) with e = exp(-2|x|) <= 0.29 (no cancellation), and x's sign.
inline __m512 tanh16(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f), ax = _mm512_abs_ps(x);
    const __m512 z = _mm512_mul_ps(x, x);
    const __m512 p = horner16(z, {-5.70498872745e-3f, 2.06390887954e-2f, -5.37397155531e-2f, 1.33314422036e-1f,
                                  -3.33332819422e-1f});
    const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
    const __m512 e = exp_nonpositive(_mm512_mul_ps(ax, _mm512_set1_ps(-2.0f)));
    __m512 big = _mm512_div_ps(_mm512_sub_ps(one, e), _mm512_add_ps(one, e));
    big = _mm512_or_ps(big, _mm512_and_ps(x, _mm512_set1_ps(-0.0f)));  // x's sign
    const __mmask16 is_big = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.625f), _CMP_GE_OQ);
    // Where x^2 underflows to 0, tanh(x) is x to the last bit (and -0 stays -0, which the
    // polynomial's +0 + -0 would lose).
    const __mmask16 tiny = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_EQ_OQ);
    return _mm512_mask_mov_ps(_mm512_mask_mov_ps(small, is_big, big), tiny, x);
}

// The standard normal distribution at x: cdf = Phi(x), pdf = phi(x) = exp(-x^2/2) / sqrt(2 pi),
// for GELU (x Phi(x)) and its derivative (Phi(x) + x phi(x)). Near 0 from an erf polynomial
// (below); for |x| >= 1.2, Phi(-|x|) = erfc(z) / 2 with
// z = |x| / sqrt(2), from Numerical Recipes' erfcc: erfc(z) = t exp(-z^2 + P(t)),
// t = 1 / (1 + z/2), relative error < 1.2e-7 for every z >= 0. Computed as erfc itself,
// not 1 + erf(x / sqrt(2)), so the negative tail keeps its relative precision (the portable
// formula's 1 + erf cancels: 10^5 ulp and more below x = -3). z^2 = x^2 / 2 is split into
// hi + lo exactly (fma) and exp(-z^2 + P) taken as exp(-hi) exp(P - lo): one rounded
// exponent of size 100 would cost ~100 ulp. |x| is clamped at 20, where Phi is 1 or 0 in
// float32, so inf gives finite parts (and GELU's x Phi(x) gives what x gives: inf, or NaN
// for -inf as the portable formula). Over all finite float32 inputs (an exhaustive scan;
// tests/core/test_gelu_silu_kernels.py): GELU within 4.97 ulp for |x| < 1.2, 7.96 for
// x > -10 and 11.65 below; the derivative within 1.66e-7 absolute (it crosses zero at
// x = -0.75, so no relative bound; libm's loop: ~1.4e-7).
struct Normal16 {
    __m512 cdf, pdf;
};

inline Normal16 normal16(__m512 x) {
    const __m512 ax = _mm512_min_ps(_mm512_abs_ps(x), _mm512_set1_ps(20.0f));  // NaN -> 20: masked by the caller
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    const __m512 sq = _mm512_mul_ps(ax, ax);
    const __m512 hi = _mm512_mul_ps(sq, half);                         // z^2 = hi + lo exactly
    const __m512 lo = _mm512_mul_ps(_mm512_fmsub_ps(ax, ax, sq), half);
    const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_setzero_ps(), hi));
    const __m512 z = _mm512_mul_ps(ax, _mm512_set1_ps(0.70710678118654752440f));
    const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(z, half, one));
    const __m512 p = horner16(t, {0.17087277f, -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f, -0.18628806f,
                                  0.09678418f, 0.37409196f, 1.00002368f, -1.26551223f});  // P(t) in [-1.27, 3e-8]
    // exp_nonpositive takes P - lo: at most ~3e-8 above 0, where its polynomial still holds.
    const __m512 tail = _mm512_mul_ps(_mm512_mul_ps(half, t), _mm512_mul_ps(e, exp_nonpositive(_mm512_sub_ps(p, lo))));
    const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    // |x| < 1.2: Phi(x) = 1/2 + erf(u)/2 with erf(u) = u Q(u^2), u = x / sqrt 2, Q a
    // least-squares fit of degree 6 (1.4e-10 relative on u <= 0.85). Here erfcc's float32
    // polynomial would cost ~1.5e-7 (its terms of +-1.5 cancel near t = 1): 7 ulp of GELU
    // against 2-5 for this one (libm's loop: 1.7-3.1).
    const __m512 u = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752440f));
    const __m512 u2 = _mm512_mul_ps(u, u);
    const __m512 q = horner16(u2, {8.836248889565468e-05f, -0.0008244289783760905f, 0.005209298804402351f,
                                   -0.026862481608986855f, 0.11283747106790543f, -0.37612637877464294f,
                                   1.128379225730896f});
    const __m512 central = _mm512_fmadd_ps(half, _mm512_mul_ps(u, q), half);
    const __mmask16 near0 = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(1.2f), _CMP_LT_OQ);
    Normal16 r;
    r.cdf = _mm512_mask_mov_ps(_mm512_sub_ps(one, tail), neg, tail);  // Phi(x) = 1 - Phi(-x)
    r.cdf = _mm512_mask_mov_ps(r.cdf, near0, central);
    r.pdf = _mm512_mul_ps(_mm512_set1_ps(0.39894228040143267794f), _mm512_fnmadd_ps(e, lo, e));  // e (1 - lo)
    return r;
}

// log(1 + e) for 0 <= e <= 1 (softplus's log1p(exp(-|x|))): u = 1 + e rounded, split as
// 2^k m with m in [sqrt(1/2), sqrt 2) (k = 0 or 1), log m = log(1 + f), f = m - 1 exact,
// from Cephes' logf polynomial (f + f^2 (f P(f) - 1/2)); ln 2 in two parts as Cephes adds
// them; plus (e - (u - 1)) / u, the rounding of u taken back (exact numerator: u - 1 is
// exact for u in [1, 2]), so tiny e gives e and not 0.
inline __m512 log1p_unit16(__m512 e) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 u = _mm512_add_ps(one, e);
    const __mmask16 big = _mm512_cmp_ps_mask(u, _mm512_set1_ps(1.41421356237f), _CMP_GT_OQ);
    const __m512 k = _mm512_maskz_mov_ps(big, one);
    const __m512 f = _mm512_sub_ps(_mm512_mask_mul_ps(u, big, u, _mm512_set1_ps(0.5f)), one);
    const __m512 carry = _mm512_div_ps(_mm512_sub_ps(e, _mm512_sub_ps(u, one)), u);
    const __m512 z = _mm512_mul_ps(f, f);
    const __m512 p = horner16(f, {7.0376836292e-2f, -1.1514610310e-1f, 1.1676998740e-1f, -1.2420140846e-1f,
                                  1.4249322787e-1f, -1.6668057665e-1f, 2.0000714765e-1f, -2.4999993993e-1f,
                                  3.3333331174e-1f});
    __m512 y = _mm512_mul_ps(_mm512_mul_ps(f, z), p);
    y = _mm512_fmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), y);
    y = _mm512_fmadd_ps(z, _mm512_set1_ps(-0.5f), y);
    y = _mm512_add_ps(y, carry);
    return _mm512_fmadd_ps(k, _mm512_set1_ps(0.693359375f), _mm512_add_ps(f, y));
}

// softplus(x) = max(x, 0) + log1p(e^-|x|), the portable formula, which never overflows.
inline __m512 softplus16(__m512 x) {
    const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(x)));
    return _mm512_add_ps(_mm512_max_ps(x, _mm512_setzero_ps()), log1p_unit16(e));
}

// ELU: x for x > 0, alpha (e^x - 1) otherwise; +-0 give alpha * +-0 as the portable code.
inline __m512 elu16(__m512 x, __m512 alpha) {
    const __m512 zero = _mm512_setzero_ps();
    const __mmask16 pos = _mm512_cmp_ps_mask(x, zero, _CMP_GT_OQ);
    const __mmask16 is_zero = _mm512_cmp_ps_mask(x, zero, _CMP_EQ_OQ);
    const __m512 em1 = _mm512_mask_mov_ps(expm1_nonpositive(_mm512_min_ps(x, zero)), is_zero, x);
    return _mm512_mask_mov_ps(_mm512_mul_ps(alpha, em1), pos, x);
}

// y, except NaN (quieted: x + x) where x is NaN: exp_nonpositive reads NaN as -104
// (vmaxps), and libm returns a signaling NaN quieted.
inline __m512 nan_from_x16(__m512 x, __m512 y) {
    return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), _mm512_add_ps(x, x));
}

template <Act kAct>
inline __m512 apply16(__m512 x, __m512 alpha) {
    __m512 y;
    if constexpr (kAct == Act::sigmoid) y = sigmoid16(x);
    else if constexpr (kAct == Act::tanh) y = tanh16(x);
    else if constexpr (kAct == Act::gelu) y = _mm512_mul_ps(x, normal16(x).cdf);
    else if constexpr (kAct == Act::softplus) y = softplus16(x);
    else if constexpr (kAct == Act::elu) y = elu16(x, alpha);
    else if constexpr (kAct == Act::leaky_relu)  // x > 0 ? x : alpha x, as the portable code
        y = _mm512_mask_mov_ps(_mm512_mul_ps(alpha, x), _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), x);
    else y = _mm512_mul_ps(x, sigmoid16(x));  // silu, as the portable x * sigmoid(x)
    return nan_from_x16(x, y);
}

template <Act kAct>
void rows(float* y, const float* x, idx n, float alpha) {
    const __m512 a = _mm512_set1_ps(alpha);
    idx i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, apply16<kAct>(_mm512_loadu_ps(x + i), a));
    if (i < n) {
        const __mmask16 m = first_n(static_cast<int>(n - i));
        _mm512_mask_storeu_ps(y + i, m, apply16<kAct>(_mm512_maskz_loadu_ps(m, x + i), a));
    }
}

// f'(x) for the backward: SiLU's s (1 + x (1 - s)) with s = sigmoid(x), as the portable
// formula; GELU's Phi(x) + x phi(x); softplus's sigmoid(x). NaN in x gives NaN (quiet:
// x's NaN times a number, or x + x).
template <Act kAct>
inline __m512 derivative16(__m512 x) {
    if constexpr (kAct == Act::gelu) {
        const Normal16 n = normal16(x);
        return _mm512_fmadd_ps(x, n.pdf, n.cdf);
    } else if constexpr (kAct == Act::softplus) {
        return nan_from_x16(x, sigmoid16(x));
    } else {
        const __m512 one = _mm512_set1_ps(1.0f), s = sigmoid16(x);
        const __m512 d = _mm512_mul_ps(s, _mm512_fmadd_ps(x, _mm512_sub_ps(one, s), one));
        return nan_from_x16(x, d);
    }
}

// ELU's and LeakyReLU's f'(x): 1 for x > 0, else y + alpha (ELU, from the forward's output
// y) or alpha: the portable derivative's operations, so its bits (NaN x: y + alpha is NaN).
template <Act kAct>
inline __m512 piecewise_derivative16(__m512 x, __m512 y, __m512 alpha) {
    const __m512 below = kAct == Act::elu ? _mm512_add_ps(y, alpha) : alpha;
    return _mm512_mask_mov_ps(below, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), _mm512_set1_ps(1.0f));
}

template <Act kAct>
void backward_rows(float* dx, const float* dy, const float* x, const float* y, idx n, float alpha) {
    constexpr bool piecewise = kAct == Act::elu || kAct == Act::leaky_relu;
    const __m512 a = _mm512_set1_ps(alpha);
    auto derivative = [a](__m512 xv, const float* y_at, __mmask16 m) {
        if constexpr (piecewise)
            return piecewise_derivative16<kAct>(xv, kAct == Act::elu ? _mm512_maskz_loadu_ps(m, y_at) : a, a);
        else
            return derivative16<kAct>(xv);
    };
    idx i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dx + i, _mm512_mul_ps(_mm512_loadu_ps(dy + i),
                                               derivative(_mm512_loadu_ps(x + i), y + i, __mmask16(0xFFFF))));
    if (i < n) {
        const __mmask16 m = first_n(static_cast<int>(n - i));
        const __m512 d = derivative(_mm512_maskz_loadu_ps(m, x + i), y + i, m);
        _mm512_mask_storeu_ps(dx + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + i), d));
    }
}

}  // namespace

bool activation_forward_rows(float* y, const float* x, idx n, Act act, float alpha) {
    switch (act) {
        case Act::sigmoid: rows<Act::sigmoid>(y, x, n, alpha); return true;
        case Act::tanh: rows<Act::tanh>(y, x, n, alpha); return true;
        case Act::silu: rows<Act::silu>(y, x, n, alpha); return true;
        case Act::gelu: rows<Act::gelu>(y, x, n, alpha); return true;
        case Act::softplus: rows<Act::softplus>(y, x, n, alpha); return true;
        case Act::elu: rows<Act::elu>(y, x, n, alpha); return true;
        case Act::leaky_relu: rows<Act::leaky_relu>(y, x, n, alpha); return true;
        default: return false;
    }
}

bool activation_backward_rows(float* dx, const float* dy, const float* x, const float* y, idx n, Act act,
                              float alpha) {
    switch (act) {
        case Act::silu: backward_rows<Act::silu>(dx, dy, x, y, n, alpha); return true;
        case Act::gelu: backward_rows<Act::gelu>(dx, dy, x, y, n, alpha); return true;
        case Act::softplus: backward_rows<Act::softplus>(dx, dy, x, y, n, alpha); return true;
        case Act::elu: backward_rows<Act::elu>(dx, dy, x, y, n, alpha); return true;
        case Act::leaky_relu: backward_rows<Act::leaky_relu>(dx, dy, x, y, n, alpha); return true;
        default: return false;
    }
}

}  // namespace avx512
}  // namespace pynn

#pragma GCC pop_options
#else
// Not GCC/Clang on x86: no vector kernel; activations.cpp falls back to its portable loop.
namespace pynn {
namespace avx512 {
bool activation_forward_rows(float*, const float*, idx, Act, float) { return false; }
bool activation_backward_rows(float*, const float*, const float*, const float*, idx, Act, float) { return false; }
}  // namespace avx512
}  // namespace pynn
#endif
