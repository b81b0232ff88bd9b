// float32 dense-layer kernels for AVX-512 CPUs (avx512_gemm.cpp): a register-blocked GEMM
// microkernel (BLIS/Goto style, up to 14 rows x 32 columns in 28 zmm accumulators) with the
// layer's elementwise work done in its store (epilogue.h). Uses kernels/ only. The library
// is built for baseline x86-64; these functions carry target attributes and may run only
// where dispatch/kernel_switch.h's avx512_supported() is true. OpenBLAS (kernels/gemm.h)
// stays the fallback and the reference the tests compare against.
#pragma once
#include <cstdint>

#include "common.h"
#include "kernels/epilogue.h"

namespace pynn {

namespace avx512 {

// Panel layout of a weight matrix W (O, I) for the forward pass: panels of 32 outputs,
// each k-major: P[p][k][j] = W[32 p + j][k], zero padded to a multiple of 32 outputs.
idx packed_size(idx O, idx I);
// Packs W into P (packed_size(O, I) floats). Parallel over panels.
void pack_weights(float* P, const float* W, idx O, idx I);
// Packs panel p (outputs 32 p .. 32 p + 31) only; single-threaded.
void pack_panel(float* P, const float* W, idx O, idx I, idx p);
// The inverse: writes W's rows of panel p (outputs 32 p .. min(32 p + 31, O - 1)) from P.
void unpack_panel(float* W, const float* P, idx O, idx I, idx p);

// Y (B,O) = act(X (B,I) W^T + b); P is W packed by pack_weights; b may be nullptr.
void dense_forward(float* Y, const float* X, const float* P, const float* b, idx B, idx I, idx O,
                   EpilogueAct act, float alpha);

// dX (B,I) = (dY (B,O) W (O,I)) * act'(Yprev): Yprev (B,I) is the output of a store
// activation in front of this layer (its derivative from the sign of Yprev), or
// nullptr for none (plain dX).
void dense_backward_dx(float* dX, const float* dY, const float* W, idx B, idx I, idx O,
                       const float* y_prev, EpilogueAct act, float alpha);

// dW (O,I) = dY^T X and, when db != nullptr, db (O) = column sums of dY.
void dense_backward_dw(float* dW, float* db, const float* dY, const float* X, idx B, idx I, idx O);

// Single tiles of the products above, for callers that share tiles out among their own
// threads (the one-region training step). A tile is at most kTileRows rows by one 32-column panel.
constexpr int kTileRows = 14;
constexpr idx kPanel = 32;
inline idx panel_count(idx n) { return (n + kPanel - 1) / kPanel; }  // 32-wide panels covering n
// The near-equal blocks of at most max_rows rows that B rows are split into (kTileRows for
// these kernels; the AMX tile kernels take 16).
idx row_block_count(idx B, int max_rows = kTileRows);
void row_block(idx B, idx i, idx* r0, int* rows, int max_rows = kTileRows);
// Inputs [i0, i0 + rows) of panel q of dW (O, I) = dY^T X kept in the forward's panel
// layout (packed_size; Gq: panel q, I x 32 floats, k-major): Gq[k][j] = dW[32 q + j][k], each
// a sum over the B rows in row order, the bits of dw_tile's element. Columns past O are not
// written. False when a value it wrote is inf or NaN.
bool dw_packed_tile(float* Gq, const float* dY, const float* X, idx B, idx I, idx O, idx i0, int rows, idx q);
// Rows [r0, r0 + rows) x output panel p of dense_forward.
void dense_forward_tile(float* Y, const float* X, const float* P, const float* b, idx I, idx O, EpilogueAct act,
                        float alpha, idx r0, int rows, idx p);
// Output rows [o0, o0 + rows) x input panel p of dense_backward_dw (with those rows of db
// when p == 0 and db != nullptr); false when a value it wrote is inf or NaN.
bool dw_tile(float* dW, float* db, const float* dY, const float* X, idx B, idx I, idx O, idx o0, int rows, idx p);

}  // namespace avx512
}  // namespace pynn
