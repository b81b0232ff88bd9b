// Inverted dropout's masks and products (dropout.h), masks drawn from kernels/rng.h.
#include "kernels/dropout.h"

#include <cmath>

namespace pynn {

template <typename T>
void dropout_forward(T* y, T* scale, const T* x, idx n, double p, std::uint64_t seed,
                     std::uint64_t step, std::uint64_t layer) {
    const std::uint64_t key = splitmix64(splitmix64(splitmix64(seed) ^ step) ^ layer);
    const std::uint64_t threshold = static_cast<std::uint64_t>(std::floor(p * 16777216.0));
    const T keep_scale = static_cast<T>(1.0 / (1.0 - p));
#pragma omp parallel for simd if (n > kParallelGrain) num_threads(current_threads())
    for (idx i = 0; i < n; ++i) {
        const std::uint64_t u = splitmix64(key ^ static_cast<std::uint64_t>(i)) >> 40;
        scale[i] = u >= threshold ? keep_scale : T(0);
        y[i] = x[i] * scale[i];
    }
}

template <typename T>
void dropout_backward(T* dx, const T* dy, const T* scale, idx n) {
#pragma omp parallel for simd if (n > kParallelGrain) num_threads(current_threads())
    for (idx i = 0; i < n; ++i) dx[i] = dy[i] * scale[i];
}

template void dropout_forward<float>(float*, float*, const float*, idx, double, std::uint64_t, std::uint64_t, std::uint64_t);
template void dropout_forward<double>(double*, double*, const double*, idx, double, std::uint64_t, std::uint64_t, std::uint64_t);
template void dropout_backward<float>(float*, const float*, const float*, idx);
template void dropout_backward<double>(double*, const double*, const double*, idx);

}  // namespace pynn
