// How the GEMM kernels (kernels/avx512_gemm.cpp, kernels/tile_bf16.cpp) share out a product:
// rows into near-equal blocks, and how many threads a product is worth.
#pragma once
#include "common.h"

namespace pynn {

// M rows in near-equal blocks of at most max_rows (32 rows of 14-row tiles -> 11 + 11 + 10,
// not 14 + 14 + 4, so no block runs a thin, latency-bound tile).
struct RowBlocks {
    idx n, size;
    RowBlocks(idx M, int max_rows) : n((M + max_rows - 1) / max_rows), size(n ? (M + n - 1) / n : 0) {}
    idx start(idx i) const { return i * size; }
    int rows(idx i, idx M) const { return static_cast<int>(size < M - i * size ? size : M - i * size); }
};

// Threads for a product of m*n*k multiply-adds in `tasks` tiles: below ~64k the fork costs
// more than it saves. (The one-region training step sets ThreadScope(1) in its region: its
// kernels run on the caller.)
inline int gemm_threads(idx mnk, idx tasks) {
    int nt = current_threads();
    if (mnk < (idx(1) << 16)) nt = 1;
    if (tasks < nt) nt = static_cast<int>(tasks);
    return nt > 0 ? nt : 1;
}

}  // namespace pynn
