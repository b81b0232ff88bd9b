// Elementwise activations, forward and backward, and softmax over rows (activations.h). Portable C++;
// uses common.h only (PReLU: prelu.cpp).
#include "kernels/activations.h"

#include <algorithm>
#include <cmath>
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
        // n = 0 asks whether the vector kernel has this activation (its switch is the one list).
        if (avx512 && avx512::activation_forward_rows(y, x, 0, act, alpha)) {
            by_chunks(n, [&](idx lo, idx hi) { avx512::activation_forward_rows(y + lo, x + lo, hi - lo, act, alpha); });
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
        if (avx512 && avx512::activation_backward_rows(dx, dy, x, y, 0, act, alpha)) {  // n = 0: has it?
            by_chunks(n, [&](idx lo, idx hi) {
                avx512::activation_backward_rows(dx + lo, dy + lo, x + lo, y + lo, hi - lo, act, alpha);
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
    template void softmax_rows_forward<T>(T*, const T*, idx, idx);
PYNN_INSTANTIATE(float)
PYNN_INSTANTIATE(double)
#undef PYNN_INSTANTIATE

}  // namespace pynn
