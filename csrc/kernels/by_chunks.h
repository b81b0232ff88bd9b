// Splitting an element-wise loop over [0, n) between the threads: one range of whole
// cache lines per thread (16 floats), or the calling thread alone for small n -- then no
// parallel construct at all, which matters when the caller is itself one thread of a
// team (the one-region training step updates panel by panel from inside its region).
// Uses common.h only.
#pragma once
#include <omp.h>

#include <algorithm>

#include "common.h"

namespace pynn {

// chunk(lo, hi) for disjoint ranges covering [0, n).
template <typename Chunk>
void by_chunks(idx n, const Chunk& chunk) {
    const int nt = n > kParallelGrain ? current_threads() : 1;
    if (nt == 1) {
        if (n > 0) chunk(idx(0), n);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num(), k = omp_get_num_threads();
        const idx per = ((n + k - 1) / k + 15) / 16 * 16;
        const idx lo = std::min(n, per * t), hi = std::min(n, lo + per);
        if (hi > lo) chunk(lo, hi);
    }
}

}  // namespace pynn
