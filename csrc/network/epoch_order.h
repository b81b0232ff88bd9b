// The row order of one training epoch, drawn from the model's seed.
#pragma once
#include "common.h"

namespace pynn {

// perm (n) = 0..n-1 shuffled for epoch `epoch` of a model with `seed` (Fisher-Yates over a
// counter-based splitmix64 stream: any epoch's order is computed directly, so a resumed fit
// shuffles exactly as an uninterrupted one), reproduced by pynn.reference.epoch_order:
//   k = splitmix64(splitmix64(splitmix64(seed) ^ kShuffleStream) ^ epoch)
//   for i = n-1 down to 1:  j = (splitmix64(k ^ i) * (i + 1)) >> 64  (a 128-bit product);
//                           swap(perm[i], perm[j])
// j is uniform on [0, i] up to a bias below (i + 1) / 2^64.
constexpr std::uint64_t kShuffleStream = 0x53485546464C45ULL;  // "SHUFFLE": apart from dropout's streams
void epoch_order(std::int64_t* perm, idx n, std::uint64_t seed, std::uint64_t epoch);

}  // namespace pynn
