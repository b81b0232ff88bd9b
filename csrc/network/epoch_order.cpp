// The epoch's row order (epoch_order.h): Fisher-Yates over a counter-based splitmix64
// stream. Uses kernels/rng.h.
#include "network/epoch_order.h"

#include <utility>

#include "kernels/rng.h"

namespace pynn {

void epoch_order(std::int64_t* perm, idx n, std::uint64_t seed, std::uint64_t epoch) {
    for (idx i = 0; i < n; ++i) perm[i] = i;
    const std::uint64_t k = splitmix64(splitmix64(splitmix64(seed) ^ kShuffleStream) ^ epoch);
    for (idx i = n - 1; i > 0; --i) {
        const unsigned __int128 wide =
            static_cast<unsigned __int128>(splitmix64(k ^ static_cast<std::uint64_t>(i))) * static_cast<std::uint64_t>(i + 1);
        std::swap(perm[i], perm[static_cast<idx>(wide >> 64)]);
    }
}

}  // namespace pynn
