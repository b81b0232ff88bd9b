// The blocking of the tile kernels (tile_bf16.h), one template over a tile backend.
// Internal to csrc/kernels/: included by tile_bf16.cpp (scalar backend) and tile_amx.cpp
// (AMX backend, built with -mamx-tile -mamx-bf16 and nothing else, so the inline code of
// this header is baseline x86-64 in both and may be merged by the linker).
//
// One block is C (M <= 16, N <= 32) = A (M, K pairs) B (K pairs, N), in eight tiles:
//   tmm0, tmm1  C, columns 0-15 and 16-31 (16 floats = 64 bytes a row)
//   tmm2        A, 16 pairs of K (64 bytes a row), M rows
//   tmm3, tmm4  B, 16 pair rows, the columns of tmm0 / tmm1
//   tmm5-tmm7   the same three for the K tail (K mod 16 pairs), so that a ragged K needs no
//               second LDTILECFG (which would zero the accumulators) and no padded copy.
// Every tile is sized to the data it holds (M rows, N and K tails in colsb/rows): a load
// never touches a byte past the operand's last valid row or column.
#pragma once
#include <cstdint>
#include <cstring>

#include "common.h"

namespace pynn {
namespace tile {
namespace detail {

// The 64-byte operand of LDTILECFG, palette 1 (Intel SDM vol. 2, LDTILECFG).
struct alignas(64) TileConfig {
    std::uint8_t palette = 1;
    std::uint8_t start_row = 0;
    std::uint8_t reserved[14] = {};
    std::uint16_t colsb[16] = {};  // bytes per row of tmm0..tmm15 (only 0..7 exist)
    std::uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64, "LDTILECFG reads 64 bytes");

inline bool operator==(const TileConfig& a, const TileConfig& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

enum : int { kC0 = 0, kC1 = 1, kA = 2, kB0 = 3, kB1 = 4, kAt = 5, kBt0 = 6, kBt1 = 7 };
constexpr int kPairsPerTile = 16;  // 64 bytes of a tile row / 4 bytes a pair

// One block: A row m, pair k at a[m * a_rs + k]; B pair row k, column n at b[k * b_rs + n].
struct Block {
    const std::uint32_t* a;
    idx a_rs;
    const std::uint32_t* b;
    idx b_rs;
    idx K;  // pairs
    int M;  // 1..16 rows
    int N;  // 1..32 columns
};

// The tiles of a block of M rows, N columns and K pairs: a used tile has rows and colsb
// both > 0, an unused one both 0.
inline TileConfig config_for(int M, int N, idx K) {
    TileConfig c;
    const int n0 = N < 16 ? N : 16, n1 = N - n0;
    const int kf = K >= kPairsPerTile ? kPairsPerTile : 0, kt = static_cast<int>(K % kPairsPerTile);
    auto set = [&c](int t, int rows, int cols4) {
        if (rows > 0 && cols4 > 0) {
            c.rows[t] = static_cast<std::uint8_t>(rows);
            c.colsb[t] = static_cast<std::uint16_t>(4 * cols4);
        }
    };
    set(kC0, M, n0);
    set(kC1, M, n1);
    set(kA, M, kf);
    set(kB0, kf, n0);
    set(kB1, kf, n1);
    set(kAt, M, kt);
    set(kBt0, kt, n0);
    set(kBt1, kt, n1);
    return c;
}

// acc (16 x 32 floats, rows 32 apart) rows < M, columns < N = the block's product.
// Tiles: configure(cfg) (loads cfg unless it is the current one), zero<T>(),
// load<T>(base, stride_bytes), store<T>(base, stride_bytes), dp<C, A, B>() (TDPBF16PS).
template <class Tiles>
void tile_block(Tiles& t, const Block& s, float* acc) {
    t.configure(config_for(s.M, s.N, s.K));
    const bool two = s.N > 16;
    const idx a_stride = s.a_rs * 4, b_stride = s.b_rs * 4;
    const idx kfull = s.K - s.K % kPairsPerTile;
    t.template zero<kC0>();
    if (two) t.template zero<kC1>();
    for (idx k = 0; k < kfull; k += kPairsPerTile) {
        const std::uint32_t* b = s.b + k * s.b_rs;
        t.template load<kA>(s.a + k, a_stride);
        t.template load<kB0>(b, b_stride);
        t.template dp<kC0, kA, kB0>();
        if (two) {
            t.template load<kB1>(b + 16, b_stride);
            t.template dp<kC1, kA, kB1>();
        }
    }
    if (kfull < s.K) {
        const std::uint32_t* b = s.b + kfull * s.b_rs;
        t.template load<kAt>(s.a + kfull, a_stride);
        t.template load<kBt0>(b, b_stride);
        t.template dp<kC0, kAt, kBt0>();
        if (two) {
            t.template load<kBt1>(b + 16, b_stride);
            t.template dp<kC1, kAt, kBt1>();
        }
    }
    t.template store<kC0>(acc, 32 * 4);
    if (two) t.template store<kC1>(acc + 16, 32 * 4);
}

// The AMX backend's block and release (tile_amx.cpp); only called when amx_usable().
bool amx_built();
int amx_request_permission();  // 0 when granted, else errno
void amx_block(const Block& s, float* acc);
void amx_release();

}  // namespace detail
}  // namespace tile
}  // namespace pynn
