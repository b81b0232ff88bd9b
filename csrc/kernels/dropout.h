// Inverted dropout with a counter-based RNG: the mask of element i depends only on
// (seed, step, layer, i), so it is the same for any thread count and reproducible by
// pynn.reference.dropout_keep_mask:
//   k = splitmix64(splitmix64(splitmix64(seed) ^ step) ^ layer)
//   u_i = splitmix64(k ^ i) >> 40  (24 bits);  keep_i = u_i >= floor(p * 2^24)
#pragma once
#include "common.h"
#include "kernels/rng.h"

namespace pynn {

// x, y, scale (n): scale_i = keep_i / (1 - p), y = x * scale. y may alias x.
template <typename T>
void dropout_forward(T* y, T* scale, const T* x, idx n, double p, std::uint64_t seed,
                     std::uint64_t step, std::uint64_t layer);

// dx (n) = dy * scale; dx may alias dy.
template <typename T>
void dropout_backward(T* dx, const T* dy, const T* scale, idx n);

}  // namespace pynn
