// float32 dense-layer kernels for AVX-512 CPUs: a register-blocked GEMM microkernel
// (BLIS/Goto style, up to 14 rows x 32 columns in 28 zmm accumulators) with the layer's
// elementwise work fused into its store. The library is built for baseline x86-64; these
// functions carry target attributes and run only when kernel_avx512_usable() says so.
// OpenBLAS (kernels/gemm.h) stays the fallback and the reference the tests compare against.
#pragma once
#include <cstdint>

#include "common.h"

namespace pynn {

// Elementwise epilogues the kernels can fuse (those whose derivative needs only the
// sign of the output): y = z, max(z, 0), z > 0 ? z : alpha z with alpha >= 0.
enum class FusedAct : int { identity, relu, leaky_relu };

namespace avx512 {

// Panel layout of a weight matrix W (O, I) for the forward pass: panels of 32 outputs,
// each k-major: P[p][k][j] = W[32 p + j][k], zero padded to a multiple of 32 outputs.
idx packed_size(idx O, idx I);
// Packs W into P (packed_size(O, I) floats). Parallel over panels.
void pack_weights(float* P, const float* W, idx O, idx I);
// Packs panel p (outputs 32 p .. 32 p + 31) only; single-threaded.
void pack_panel(float* P, const float* W, idx O, idx I, idx p);

// Y (B,O) = act(X (B,I) W^T + b); P is W packed by pack_weights; b may be nullptr.
void dense_forward(float* Y, const float* X, const float* P, const float* b, idx B, idx I, idx O,
                   FusedAct act, float alpha);

// dX (B,I) = (dY (B,O) W (O,I)) * act'(Yprev): Yprev (B,I) is the output of a fused-kind
// activation in front of this layer (its derivative from the sign of Yprev), or
// nullptr for none (plain dX).
void dense_backward_dx(float* dX, const float* dY, const float* W, idx B, idx I, idx O,
                       const float* y_prev, FusedAct act, float alpha);

// dW (O,I) = dY^T X and, when db != nullptr, db (O) = column sums of dY.
void dense_backward_dw(float* dW, float* db, const float* dY, const float* X, idx B, idx I, idx O);

// Single tiles of the products above, for callers that share tiles out among their own
// threads (the fused training step). A tile is at most kTileRows rows by one 32-column panel.
constexpr int kTileRows = 14;
constexpr idx kPanel = 32;
inline idx panel_count(idx n) { return (n + kPanel - 1) / kPanel; }  // 32-wide panels covering n
// The near-equal blocks of at most max_rows rows that B rows are split into (kTileRows for
// these kernels; the AMX tile kernels take 16).
idx row_block_count(idx B, int max_rows = kTileRows);
void row_block(idx B, idx i, idx* r0, int* rows, int max_rows = kTileRows);
// Rows [r0, r0 + rows) x output panel p of dense_forward.
void dense_forward_tile(float* Y, const float* X, const float* P, const float* b, idx I, idx O, FusedAct act,
                        float alpha, idx r0, int rows, idx p);
// Output rows [o0, o0 + rows) x input panel p of dense_backward_dw (with those rows of db
// when p == 0 and db != nullptr); false when a value it wrote is inf or NaN.
bool dw_tile(float* dW, float* db, const float* dY, const float* X, idx B, idx I, idx O, idx o0, int rows, idx p);

// Adam/AdamW (the formulas of optimizers.h, coefficients already in float) on the rows of
// one 32-output panel of a weight matrix W (O, I) with its gradient and moments (same
// layout as W): one contiguous block of each. The caller re-packs the panel after it
// (pack_panel or pack_panel_bf16), while it is in cache.
struct AdamF32 {
    float step_size, inv_bc2_sqrt, one_minus_b1, b2, one_minus_b2, eps, keep, l2;
};
void adam_panel_rows(float* W, const float* G, float* M, float* V, idx O, idx I, idx panel, const AdamF32& a);

// bfloat16 variants (CPUs with AVX512_BF16, see bf16_supported()): products of bf16
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
                             idx O, FusedAct act, float alpha, idx r0, int rows, idx p);
// dense_forward over B rows of X as row_to_bf16 rows, W as bf16 panels.
void dense_forward_bf16(float* Y, const std::uint32_t* Xb, const std::uint32_t* P, const float* b, idx B, idx I,
                        idx O, FusedAct act, float alpha);
// W's rows 2j, 2j + 1 interleaved (rows_to_bf16_pairs): Wp[j][i] = (W[2 j][i], W[2 j + 1][i]),
// (O + 1) / 2 rows of I slots, the operand of dX = dY W along the outputs. Packs the rows of
// 32-output panel p only.
void pack_row_pairs_bf16(std::uint32_t* Wp, const float* W, idx O, idx I, idx p);
// dense_backward_dx with dY as row_to_bf16 rows ((O + 1) / 2 slots each) and W as row pairs.
void dense_backward_dx_bf16(float* dX, const std::uint32_t* dYb, const std::uint32_t* Wp, idx B, idx I, idx O,
                            const float* y_prev, FusedAct act, float alpha);
// dw_tile with dY and X as row pairs: dYp[b/2][o], Xp[b/2][i] ((B + 1) / 2 pair rows, the
// last padded with zeros for odd B); db from the float32 dY.
bool dw_tile_bf16(float* dW, float* db, const float* dY, const std::uint32_t* dYp, const std::uint32_t* Xp, idx B,
                  idx I, idx O, idx o0, int rows, idx p);

// One row of softmax cross-entropy with a class label (kernels/losses.cpp), C <= 16 float32 logits
// in one zmm. False (nothing written) when a logit is inf or NaN or the row does not fit:
// the caller's scalar path handles those. Else *loss = log(sum_c exp(z_c - m)) - (z_label - m)
// with m = max z (the sum in double), *argmax = the first maximum, and, when g != nullptr,
// g[c] = scale * (softmax(z)_c - [c == label]).
bool softmax_xent_row(const float* z, idx C, idx label, float scale, float* g, double* loss, idx* argmax);

// Measured float32 FMA throughput of `threads` threads (GFLOP/s), running zmm FMAs for
// about `seconds`: the machine's peak that benchmarks quote percentages of.
double fma_peak_gflops(int threads, double seconds);

}  // namespace avx512
}  // namespace pynn
