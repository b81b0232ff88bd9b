// SplitMix64: the core's one source of randomness (dropout masks, epoch shuffles). Used as
// a counter-based generator -- the i-th draw of a stream is splitmix64(key ^ i) -- so any
// draw is computed directly, the same for any thread count, and pynn.reference.splitmix64
// reproduces it in Python.
#pragma once
#include <cstdint>

namespace pynn {

inline std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

}  // namespace pynn
