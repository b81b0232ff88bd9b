// Elementwise activations and PReLU, forward and backward, and softmax over rows (activations.h). Portable C++;
// uses common.h only.
#include "kernels/activations.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/by_chunks.h"

namespace pynn {
namespace {

template <typename T>
inline T sigmoid(T x) {
    // Two branches so exp never overflows: saturated inputs give exactly 0 or 1, never NaN.
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
}

template <typename T>
inline T softplus(T x) {  // log(1 + e^x) without overflow
    return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x)));
}

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

template <typename T>
inline T forward_one(T x, Act act, T alpha) {
    switch (act) {
        case Act::identity: return x;
        case Act::sigmoid: return sigmoid(x);
        case Act::tanh: return std::tanh(x);
        case Act::relu: return x < T(0) ? T(0) : x;  // NaN stays NaN, as max(x, 0) in NumPy/PyTorch
        case Act::leaky_relu: return x > T(0) ? x : alpha * x;
        case Act::elu: return x > T(0) ? x : alpha * std::expm1(x);
        case Act::gelu: return T(0.5) * x * (T(1) + std::erf(x * T(kInvSqrt2)));
        case Act::silu: return x * sigmoid(x);
        case Act::softplus: return softplus(x);
    }
    return x;
}

// f'(x), given x and y = f(x).
template <typename T>
inline T derivative_one(T x, T y, Act act, T alpha) {
    switch (act) {
        case Act::identity: return T(1);
        case Act::sigmoid: return y * (T(1) - y);
        case Act::tanh: return T(1) - y * y;
        case Act::relu: return x > T(0) ? T(1) : T(0);
        case Act::leaky_relu: return x > T(0) ? T(1) : alpha;
        case Act::elu: return x > T(0) ? T(1) : y + alpha;
        case Act::gelu: {
            const T cdf = T(0.5) * (T(1) + std::erf(x * T(kInvSqrt2)));
            const T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * x * x);
            return cdf + x * pdf;
        }
        case Act::silu: {
            const T s = sigmoid(x);
            return s * (T(1) + x * (T(1) - s));
        }
        case Act::softplus: return sigmoid(x);
    }
    return T(1);
}

}  // namespace

template <typename T>
void activation_forward(T* y, const T* x, idx n, Act act, T alpha, bool avx512) {
    if constexpr (std::is_same_v<T, float>) {
        if (avx512 && (act == Act::sigmoid || act == Act::tanh || act == Act::silu || act == Act::gelu ||
                       act == Act::softplus || act == Act::elu || act == Act::leaky_relu)) {
            by_chunks(n, [&](idx lo, idx hi) {
                if (avx512::activation_forward_rows(y + lo, x + lo, hi - lo, act, alpha)) return;
                for (idx i = lo; i < hi; ++i) y[i] = forward_one(x[i], act, alpha);  // no vector kernel built
            });
            return;
        }
    }
    // Separate tight loops for the common cases so they vectorize.
    // `if (parallel: ...)`: a bare `if` clause on `parallel for simd` applies to the simd
    // part too, and the loop ran one element at a time below kParallelGrain -- every
    // training step of a batch-sized layer (32,768 floats: ~40 us against ~3).
    if (act == Act::relu) {
#pragma omp parallel for simd if (parallel : n > kParallelGrain) num_threads(current_threads())
        for (idx i = 0; i < n; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];  // NaN propagates
        return;
    }
#pragma omp parallel for if (n > kParallelGrain / 8) num_threads(current_threads())
    for (idx i = 0; i < n; ++i) y[i] = forward_one(x[i], act, alpha);
}

template <typename T>
void activation_backward(T* dx, const T* dy, const T* x, const T* y, idx n, Act act, T alpha, bool avx512) {
    if constexpr (std::is_same_v<T, float>) {
        // SiLU, GELU, softplus: not libm's, one at a time; ELU and LeakyReLU: the same
        // bits as the portable loop, whose branch on x's sign a compiler keeps scalar.
        if (avx512 && (act == Act::silu || act == Act::gelu || act == Act::softplus || act == Act::elu ||
                       act == Act::leaky_relu)) {
            by_chunks(n, [&](idx lo, idx hi) {
                if (avx512::activation_backward_rows(dx + lo, dy + lo, x + lo, y + lo, hi - lo, act, alpha)) return;
                for (idx i = lo; i < hi; ++i) dx[i] = dy[i] * derivative_one(x[i], y[i], act, alpha);  // no kernel built
            });
            return;
        }
    }
    if (act == Act::relu) {
        // dy[i] loaded unconditionally: a load under the condition kept the loop scalar.
#pragma omp parallel for simd if (parallel : n > kParallelGrain) num_threads(current_threads())
        for (idx i = 0; i < n; ++i) {
            const T d = dy[i];
            dx[i] = x[i] > T(0) ? d : T(0);
        }
        return;
    }
#pragma omp parallel for if (n > kParallelGrain / 8) num_threads(current_threads())
    for (idx i = 0; i < n; ++i) dx[i] = dy[i] * derivative_one(x[i], y[i], act, alpha);
}

namespace {

// PReLU's loops choose between two values by their bits: gcc (12) kept every ?: form of
// them scalar and branchy in the AVX2 and baseline clones (it will not compute a product
// for one side of a select without masked instructions, under -ftrapping-math), and in
// the slope loop in the AVX-512 one too. Here both sides are computed on every element
// and the choice is integer and/or, so each loop vectorizes in every clone.
template <typename T>
using BitsOf = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;

// All ones where x <= 0 or x is NaN (PReLU's negative side), else 0.
template <typename T>
inline BitsOf<T> negative_side(T x) {
    return BitsOf<T>(0) - BitsOf<T>(!(x > T(0)));
}

// mask ? a : b, by bits (mask all ones or 0).
template <typename T>
inline T select_bits(BitsOf<T> mask, T a, T b) {
    BitsOf<T> ua, ub;
    std::memcpy(&ua, &a, sizeof ua);
    std::memcpy(&ub, &b, sizeof ub);
    ua = (ua & mask) | (ub & ~mask);
    std::memcpy(&a, &ua, sizeof ua);
    return a;
}

// PReLU over columns [c0, c1) of one row: x where x > 0, else slope x (slope[K == 1 ? 0 : c]).
template <typename T>
inline void prelu_forward_cols(T* y, const T* x, const T* slope, idx c0, idx c1, idx K) {
    const T shared = slope[0];
#pragma omp simd
    for (idx c = c0; c < c1; ++c) {
        const T v = x[c], a = K == 1 ? shared : slope[c];
        y[c] = select_bits(negative_side(v), a * v, v);
    }
}

// The slope-gradient terms of one row over columns [c0, c1): dy x where x <= 0, added to
// acc[c] in double; both factors are +0 where x > 0. For float the term is an exact
// product, and adding +0 leaves a sum that is never -0 unchanged: the bits of the
// branchy loop this replaced, whichever clone runs.
template <typename T>
inline void prelu_slope_cols(double* acc, const T* dy, const T* x, idx c0, idx c1) {
#pragma omp simd
    for (idx c = c0; c < c1; ++c) {
        const T v = x[c], d = dy[c];
        const BitsOf<T> neg = negative_side(v);
        acc[c] += static_cast<double>(select_bits(neg, d, T(0))) * static_cast<double>(select_bits(neg, v, T(0)));
    }
}

// dx of one row over columns [c0, c1): dy where x > 0, slope dy otherwise.
template <typename T>
inline void prelu_dx_cols(T* dx, const T* dy, const T* x, const T* slope, idx c0, idx c1, idx K) {
    const T shared = slope[0];
#pragma omp simd
    for (idx c = c0; c < c1; ++c) {
        const T d = dy[c], a = K == 1 ? shared : slope[c];
        dx[c] = select_bits(negative_side(x[c]), a * d, d);
    }
}

// float32: compiled for AVX-512, AVX2 and baseline (its bits do not depend on the clone).
PYNN_X86_CLONES void prelu_forward_cols_f(float* y, const float* x, const float* slope, idx c0, idx c1, idx K) {
    prelu_forward_cols(y, x, slope, c0, c1, K);
}
PYNN_X86_CLONES void prelu_slope_cols_f(double* acc, const float* dy, const float* x, idx c0, idx c1) {
    prelu_slope_cols(acc, dy, x, c0, c1);
}
PYNN_X86_CLONES void prelu_dx_cols_f(float* dx, const float* dy, const float* x, const float* slope, idx c0, idx c1,
                                     idx K) {
    prelu_dx_cols(dx, dy, x, slope, c0, c1, K);
}
// float64: the baseline loops only (a clone could fuse the rounded dy x into the sum; on
// aarch64, whose baseline has FMA, the compiler fuses it there too, as it did before).
inline void prelu_forward_any(float* y, const float* x, const float* slope, idx c0, idx c1, idx K) {
    prelu_forward_cols_f(y, x, slope, c0, c1, K);
}
inline void prelu_forward_any(double* y, const double* x, const double* slope, idx c0, idx c1, idx K) {
    prelu_forward_cols(y, x, slope, c0, c1, K);
}
inline void prelu_slope_any(double* acc, const float* dy, const float* x, idx c0, idx c1) {
    prelu_slope_cols_f(acc, dy, x, c0, c1);
}
inline void prelu_slope_any(double* acc, const double* dy, const double* x, idx c0, idx c1) {
    prelu_slope_cols(acc, dy, x, c0, c1);
}
inline void prelu_dx_any(float* dx, const float* dy, const float* x, const float* slope, idx c0, idx c1, idx K) {
    prelu_dx_cols_f(dx, dy, x, slope, c0, c1, K);
}
inline void prelu_dx_any(double* dx, const double* dy, const double* x, const double* slope, idx c0, idx c1, idx K) {
    prelu_dx_cols(dx, dy, x, slope, c0, c1, K);
}

}  // namespace

template <typename T>
void prelu_forward(T* y, const T* x, const T* slope, idx B, idx C, idx K) {
#pragma omp parallel for if (B * C > kParallelGrain) num_threads(current_threads())
    for (idx b = 0; b < B; ++b) prelu_forward_any(y + b * C, x + b * C, slope, 0, C, K);
}

template <typename T>
void prelu_backward_dx(T* dx, const T* dy, const T* x, const T* slope, idx B, idx C, idx K) {
#pragma omp parallel for if (B * C > kParallelGrain) num_threads(current_threads())
    for (idx b = 0; b < B; ++b) prelu_dx_any(dx + b * C, dy + b * C, x + b * C, slope, 0, C, K);
}

template <typename T>
void prelu_slope_gradient(T* dslope, const T* dy, const T* x, idx B, idx C, idx K) {
    // Column sums accumulate in double: B can be large and the slope gradient is a sum.
    // The threads split the columns (on 16-float boundaries) and each sums its columns over
    // the rows in order, so any thread count gives the same sums.
    std::vector<double> acc(static_cast<size_t>(C), 0.0);
    const int nt = B * C > kParallelGrain ? current_threads() : 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int t = omp_get_thread_num(), k = omp_get_num_threads();
        const idx blocks = (C + 15) / 16;
        const idx c0 = std::min(C, blocks * t / k * 16), c1 = std::min(C, blocks * (t + 1) / k * 16);
        for (idx b = 0; b < B && c1 > c0; ++b) prelu_slope_any(acc.data(), dy + b * C, x + b * C, c0, c1);
    }
    if (K == 1) {
        double s = 0.0;
        for (double v : acc) s += v;
        dslope[0] = static_cast<T>(s);
    } else {
        for (idx c = 0; c < C; ++c) dslope[c] = static_cast<T>(acc[static_cast<size_t>(c)]);
    }
}

template <typename T>
void prelu_backward(T* dx, T* dslope, const T* dy, const T* x, const T* slope, idx B, idx C, idx K) {
    prelu_slope_gradient(dslope, dy, x, B, C, K);  // first: dx may alias dy
    prelu_backward_dx(dx, dy, x, slope, B, C, K);
}

template <typename T>
void softmax_rows_forward(T* y, const T* x, idx R, idx C) {
    if (C == 0) return;  // empty rows: nothing to normalize (and no x[0] to read)
    for (idx r = 0; r < R; ++r) {
        const T* xr = x + r * C;
        T* yr = y + r * C;
        T mx = xr[0];
        for (idx c = 1; c < C; ++c) mx = std::max(mx, xr[c]);
        T s = 0;
        for (idx c = 0; c < C; ++c) s += (yr[c] = std::exp(xr[c] - mx));
        for (idx c = 0; c < C; ++c) yr[c] /= s;
    }
}

#define PYNN_INSTANTIATE(T)                                                                 \
    template void activation_forward<T>(T*, const T*, idx, Act, T, bool);                  \
    template void activation_backward<T>(T*, const T*, const T*, const T*, idx, Act, T, bool); \
    template void prelu_forward<T>(T*, const T*, const T*, idx, idx, idx);                  \
    template void prelu_backward<T>(T*, T*, const T*, const T*, const T*, idx, idx, idx);    \
    template void prelu_backward_dx<T>(T*, const T*, const T*, const T*, idx, idx, idx);     \
    template void prelu_slope_gradient<T>(T*, const T*, const T*, idx, idx, idx);            \
    template void softmax_rows_forward<T>(T*, const T*, idx, idx);
PYNN_INSTANTIATE(float)
PYNN_INSTANTIATE(double)
#undef PYNN_INSTANTIATE

}  // namespace pynn
