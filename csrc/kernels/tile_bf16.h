// bfloat16 GEMM kernels of a dense layer on tiles of up to 16 rows x 32 columns, the shape
// of Intel AMX: C (M,N) += A (M,K pairs) B (K pairs,N) with A's rows and B's pair rows in
// bf16 pairs (32-bit slots, even k in the low half), accumulated in float32. Operand
// layouts are exactly those of the avx512 bf16 kernels (kernels/avx512_bf16.h), so a caller can
// swap these in. One blocking routine (tile_block.h) runs over two tile backends:
//   scalar: portable C++ that emulates the tile registers and TDPBF16PS as the Intel SDM
//           pseudo-code describes them (any CPU; the reference the AMX path is tested against);
//   amx:    the AMX-TILE/AMX-BF16 instructions (tile_amx.cpp, the only file built with
//           -mamx-tile -mamx-bf16), reached only when amx_usable().
// Bias/activation, activation-gradient, the inf/NaN check and the masked store are portable
// C++ shared by both, so both give bit-identical outputs from bit-identical tiles.
#pragma once
#include <cstdint>

#include "common.h"
#include "kernels/epilogue.h"

namespace pynn {
namespace tile {

enum class TileBackend : int { scalar, amx };

constexpr int kTileRows = 16;  // rows of one output tile (an AMX tile's rows)
constexpr idx kPanel = 32;     // columns of one output tile (two AMX tiles of 16 floats)

// The CPU has AMX-TILE and AMX-BF16, the OS enables their state (XCR0 bits 17-18), and Linux
// granted this process XTILEDATA (arch_prctl ARCH_REQ_XCOMP_PERM, asked once). False on
// builds without AMX support (non-x86, non-Linux, old compilers).
bool amx_usable();
// Why: "usable", or the first of those checks that failed (for test skip reasons and logs).
const char* amx_status();

// Ends this thread's use of the tiles (AMX: TILERELEASE, so the OS need not save 8 KB of
// tile state at each context switch). dense_forward / dense_backward_dx call it on every
// thread they use; a caller of the single-tile functions calls it when its thread is done.
void release_tiles(TileBackend backend);

// Y rows [r0, r0 + rows) x outputs [32 p, 32 p + 32) of act(X W^T + b), rows <= 16:
// Xb = X (B,I) as row_to_bf16 rows of (I + 1) / 2 slots, P = W (O,I) as pack_panel_bf16
// panels ((I + 1) / 2 pair rows of 32 slots each), b (O) or nullptr. Only columns < O are written.
void dense_forward_tile(TileBackend backend, float* Y, const std::uint32_t* Xb, const std::uint32_t* P,
                        const float* b, idx I, idx O, EpilogueAct act, float alpha, idx r0, int rows, idx p);

// All B rows of the above; parallel over tiles like avx512::dense_forward_bf16.
void dense_forward(TileBackend backend, float* Y, const std::uint32_t* Xb, const std::uint32_t* P, const float* b,
                   idx B, idx I, idx O, EpilogueAct act, float alpha);

// dX (B,I) = (dY (B,O) W (O,I)) * act'(y_prev): dYb = dY as row_to_bf16 rows of (O + 1) / 2
// slots, Wp = W as pack_row_pairs_bf16 pair rows ((O + 1) / 2 rows of I slots); y_prev (B,I)
// the output of the activation in front of the layer (its derivative from its sign), or
// nullptr for plain dX.
void dense_backward_dx(TileBackend backend, float* dX, const std::uint32_t* dYb, const std::uint32_t* Wp, idx B,
                       idx I, idx O, const float* y_prev, EpilogueAct act, float alpha);

// dY (B,O) transposed into bf16 pairs along the batch: Dt[o][q] = (dY[2q][o], dY[2q + 1][o]),
// O rows of (B + 1) / 2 slots, the odd row of an odd B read as zero. Writes slots
// [q0, q1) of every row (batch rows 2 q0 .. 2 q1 - 1), so threads can convert their own rows.
// Round to nearest even, denormals to zero, NaN quieted: bit for bit the avx512 packers.
void cols_to_bf16_pairs(std::uint32_t* Dt, const float* dY, idx B, idx O, idx q0, idx q1);

// dW rows [o0, o0 + rows) x inputs [32 p, 32 p + 32) of dW (O,I) = dY^T X, rows <= 16:
// Dt from cols_to_bf16_pairs, Xp = X (B,I) as rows_to_bf16_pairs pair rows ((B + 1) / 2 rows of
// I slots). With p == 0 and db != nullptr also db[o0 .. o0 + rows) = column sums of the
// float32 dY (B,O) in row order. False when a value it wrote is inf or NaN.
bool dw_tile(TileBackend backend, float* dW, float* db, const float* dY, const std::uint32_t* Dt,
             const std::uint32_t* Xp, idx B, idx I, idx O, idx o0, int rows, idx p);

}  // namespace tile
}  // namespace pynn
