// PReLU's forward, input gradient and slope gradient (prelu.h): portable loops that
// vectorize; float32 compiled for AVX-512, AVX2 and baseline. Uses common.h only.
#include "kernels/prelu.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace pynn {

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

#define PYNN_INSTANTIATE(T)                                                                \
    template void prelu_forward<T>(T*, const T*, const T*, idx, idx, idx);                \
    template void prelu_backward<T>(T*, T*, const T*, const T*, const T*, idx, idx, idx);  \
    template void prelu_backward_dx<T>(T*, const T*, const T*, const T*, idx, idx, idx);   \
    template void prelu_slope_gradient<T>(T*, const T*, const T*, idx, idx, idx);
PYNN_INSTANTIATE(float)
PYNN_INSTANTIATE(double)
#undef PYNN_INSTANTIATE

}  // namespace pynn
