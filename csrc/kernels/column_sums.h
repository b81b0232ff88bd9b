// The bias gradient of a dense layer, db = column sums of dY, shared by the AVX-512 kernels
// (avx512_gemm.cpp) and the tile kernels (tile_bf16.cpp), whose dW tiles compute it for
// their rows with the first column panel. Uses common.h only.
#pragma once
#include <cmath>

#include "common.h"

namespace pynn {

// db[o0 .. o0 + rows) = column sums of dY (B, O) over its B rows: one float add per row,
// in row order, so every caller gets the same bits; false when a sum is inf or NaN.
// Columns in groups of 14 (the accumulators stay in registers); any count of rows is safe.
// static: each file compiles its own copy with its own target flags (the AVX-512 one
// must never be the copy a CPU without AVX-512 runs).
static inline bool column_sums(float* db, const float* dY, idx B, idx O, idx o0, int rows) {
    constexpr int kGroup = 14;
    bool finite = true;
    for (int c0 = 0; c0 < rows; c0 += kGroup) {
        const int n = rows - c0 < kGroup ? rows - c0 : kGroup;
        float acc[kGroup] = {};
        for (idx b = 0; b < B; ++b) {
            const float* d = dY + b * O + o0 + c0;
            for (int r = 0; r < n; ++r) acc[r] += d[r];
        }
        for (int r = 0; r < n; ++r) {
            db[o0 + c0 + r] = acc[r];
            finite &= std::isfinite(acc[r]);
        }
    }
    return finite;
}

}  // namespace pynn
