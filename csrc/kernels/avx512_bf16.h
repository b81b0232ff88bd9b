// bfloat16 dense-layer kernels for CPUs with AVX512_BF16 (avx512_bf16.cpp): the operand
// conversions and the products of avx512.h over them. Uses kernels/ only; may run only where
// dispatch/ found the CPU has AVX-512 and AVX512_BF16.
#pragma once
#include <cstdint>

#include "common.h"
#include "kernels/avx512.h"

namespace pynn {
namespace avx512 {

// bfloat16 variants (CPUs with AVX512_BF16, see dispatch/cpu.h): products of bf16
// operands accumulated in float32 by vdpbf16ps, two multiply-adds per lane and
// instruction -- twice the float32 FMA rate. Operands are pairs of bf16 (round to nearest
// even) along the summed dimension in 32-bit slots:
//   W's forward panel P[p][k/2][j] = (W[32 p + j][k], W[32 p + j][k + 1]) (zero padded);
//   a row of X as its consecutive pairs (row_to_bf16: n floats -> (n + 1) / 2 slots);
//   two rows r, r + 1 of X or dY interleaved element by element (rows_to_bf16_pairs).
void pack_panel_bf16(std::uint32_t* P, const float* W, idx O, idx I, idx p);
void row_to_bf16(std::uint32_t* dst, const float* x, idx n);
void rows_to_bf16_pairs(std::uint32_t* dst, const float* row0, const float* row1, idx n);  // row1 may be nullptr (zeros)
// dense_forward_tile with X as row_to_bf16 rows ((I + 1) / 2 slots each) and W as bf16 panels.
void dense_forward_tile_bf16(float* Y, const std::uint32_t* Xb, const std::uint32_t* P, const float* b, idx I,
                             idx O, EpilogueAct act, float alpha, idx r0, int rows, idx p);
// dense_forward over B rows of X as row_to_bf16 rows, W as bf16 panels.
void dense_forward_bf16(float* Y, const std::uint32_t* Xb, const std::uint32_t* P, const float* b, idx B, idx I,
                        idx O, EpilogueAct act, float alpha);
// W's rows 2j, 2j + 1 interleaved (rows_to_bf16_pairs): Wp[j][i] = (W[2 j][i], W[2 j + 1][i]),
// (O + 1) / 2 rows of I slots, the operand of dX = dY W along the outputs. Packs the rows of
// 32-output panel p only.
void pack_row_pairs_bf16(std::uint32_t* Wp, const float* W, idx O, idx I, idx p);
// dense_backward_dx with dY as row_to_bf16 rows ((O + 1) / 2 slots each) and W as row pairs.
void dense_backward_dx_bf16(float* dX, const std::uint32_t* dYb, const std::uint32_t* Wp, idx B, idx I, idx O,
                            const float* y_prev, EpilogueAct act, float alpha);
// dw_tile with dY and X as row pairs: dYp[b/2][o], Xp[b/2][i] ((B + 1) / 2 pair rows, the
// last padded with zeros for odd B); db from the float32 dY.
bool dw_tile_bf16(float* dW, float* db, const float* dY, const std::uint32_t* dYp, const std::uint32_t* Xp, idx B,
                  idx I, idx O, idx o0, int rows, idx p);

}  // namespace avx512
}  // namespace pynn
