// Inverted dropout's masks and products (dropout.h), masks drawn from kernels/rng.h.
#include "kernels/dropout.h"

#include <cmath>
#include <cstdint>

#include "kernels/by_chunks.h"

namespace pynn {

namespace {

// Elements [lo, hi) of the forward. The 24-bit draw is compared as int32: baseline x86-64
// has no vector compare of unsigned 64-bit integers, which kept the loop scalar; and the
// x86-64-v4 clone has AVX-512DQ's 64-bit multiply for splitmix64. Integer work and one
// product per element, so every clone gives the same bits.
template <typename T>
inline void dropout_chunk(T* y, T* __restrict scale, const T* x, idx lo, idx hi, idx first, std::uint64_t key,
                          std::int32_t threshold, T keep_scale) {
#pragma omp simd
    for (idx i = lo; i < hi; ++i) {
        const auto u = static_cast<std::int32_t>(splitmix64(key ^ static_cast<std::uint64_t>(first + i)) >> 40);
        const T s = u >= threshold ? keep_scale : T(0);
        scale[i] = s;
        y[i] = x[i] * s;
    }
}

PYNN_X86_CLONES void dropout_chunk_f(float* y, float* scale, const float* x, idx lo, idx hi, idx first,
                                         std::uint64_t key, std::int32_t threshold, float keep_scale) {
    dropout_chunk(y, scale, x, lo, hi, first, key, threshold, keep_scale);
}
PYNN_X86_CLONES void dropout_chunk_d(double* y, double* scale, const double* x, idx lo, idx hi, idx first,
                                         std::uint64_t key, std::int32_t threshold, double keep_scale) {
    dropout_chunk(y, scale, x, lo, hi, first, key, threshold, keep_scale);
}
inline void dropout_chunk_any(float* y, float* scale, const float* x, idx lo, idx hi, idx first, std::uint64_t key,
                              std::int32_t threshold, float keep_scale) {
    dropout_chunk_f(y, scale, x, lo, hi, first, key, threshold, keep_scale);
}
inline void dropout_chunk_any(double* y, double* scale, const double* x, idx lo, idx hi, idx first,
                              std::uint64_t key, std::int32_t threshold, double keep_scale) {
    dropout_chunk_d(y, scale, x, lo, hi, first, key, threshold, keep_scale);
}

}  // namespace

template <typename T>
void dropout_forward(T* y, T* scale, const T* x, idx n, double p, std::uint64_t seed,
                     std::uint64_t step, std::uint64_t layer, idx first) {
    const std::uint64_t key = splitmix64(splitmix64(splitmix64(seed) ^ step) ^ layer);
    const auto threshold = static_cast<std::int32_t>(std::floor(p * 16777216.0));  // <= 2^24
    const T keep_scale = static_cast<T>(1.0 / (1.0 - p));
    by_chunks(n, [&](idx lo, idx hi) { dropout_chunk_any(y, scale, x, lo, hi, first, key, threshold, keep_scale); });
}

template <typename T>
void dropout_backward(T* dx, const T* dy, const T* scale, idx n) {
    // `if (parallel: ...)`: a bare `if` clause on `parallel for simd` turns off the simd
    // part too below kParallelGrain (activations.cpp).
#pragma omp parallel for simd if (parallel : n > kParallelGrain) num_threads(current_threads())
    for (idx i = 0; i < n; ++i) dx[i] = dy[i] * scale[i];
}

template void dropout_forward<float>(float*, float*, const float*, idx, double, std::uint64_t, std::uint64_t, std::uint64_t,
                                     idx);
template void dropout_forward<double>(double*, double*, const double*, idx, double, std::uint64_t, std::uint64_t,
                                      std::uint64_t, idx);
template void dropout_backward<float>(float*, const float*, const float*, idx);
template void dropout_backward<double>(double*, const double*, const double*, idx);

}  // namespace pynn
