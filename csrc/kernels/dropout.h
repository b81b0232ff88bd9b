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
// first: the arrays are elements [first, first + n) of the step's batch, and element i of
// them draws the mask of element first + i: a thread of the one-region step draws its own
// rows' masks, the same as the whole batch's.
template <typename T>
void dropout_forward(T* y, T* scale, const T* x, idx n, double p, std::uint64_t seed,
                     std::uint64_t step, std::uint64_t layer, idx first = 0);

// dx (n) = dy * scale; dx may alias dy.
template <typename T>
void dropout_backward(T* dx, const T* dy, const T* scale, idx n);

}  // namespace pynn
