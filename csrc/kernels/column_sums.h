// The bias gradient of a dense layer, db = column sums of dY, shared by the AVX-512 kernels
// (avx512_gemm.cpp) and the tile kernels (tile_bf16.cpp), whose dW tiles compute it for
// their rows with the first column panel. Uses common.h only.
#pragma once
#include <cmath>

#include "common.h"

namespace pynn {

// db[o0 .. o0 + rows) = column sums of dY (B, O) over its B rows: one float add per row,
// in row order, so every caller gets the same bits; false when a sum is inf or NaN.
// Columns in groups of 16 with a fixed trip count, so the accumulators stay in registers
// (one zmm, or four xmm). Groups of 14 with a variable count kept them on the stack, with
// a load and a store per row: the batch-128 first layer's 256 columns (8 panels of 32)
// took 5.2-5.7 us instead of 1.8-1.9 (one thread, baseline and AVX-512 flags, the same
// bits; AMD EPYC Zen 5). Any count of rows is safe.
// static: each file compiles its own copy with its own target flags (the AVX-512 one
// must never be the copy a CPU without AVX-512 runs).
constexpr int kColumnGroup = 16;

// Columns [c, c + n) of dY, n <= kColumnGroup; kFixed is n when known at compile time (the
// full groups), else 0.
template <int kFixed>
static inline bool column_group_sums(float* db, const float* dY, idx B, idx O, idx c, int n) {
    const int cols = kFixed > 0 ? kFixed : n;
    float acc[kColumnGroup] = {};
    for (idx b = 0; b < B; ++b) {
        const float* d = dY + b * O + c;
        for (int r = 0; r < cols; ++r) acc[r] += d[r];
    }
    bool finite = true;
    for (int r = 0; r < cols; ++r) {
        db[c + r] = acc[r];
        finite &= std::isfinite(acc[r]);
    }
    return finite;
}

static inline bool column_sums(float* db, const float* dY, idx B, idx O, idx o0, int rows) {
    bool finite = true;
    int c0 = 0;
    for (; c0 + kColumnGroup <= rows; c0 += kColumnGroup)
        finite &= column_group_sums<kColumnGroup>(db, dY, B, O, o0 + c0, kColumnGroup);
    if (c0 < rows) finite &= column_group_sums<0>(db, dY, B, O, o0 + c0, rows - c0);
    return finite;
}

}  // namespace pynn
