// Internal to the AVX-512 kernels (avx512_gemm.cpp, avx512_bf16.cpp, and the AVX-512
// optimizer and loss rows): included only after their `#pragma GCC target("avx512f,...")`,
// since its inline functions use AVX-512 intrinsics. Uses kernels/ headers only.
#pragma once
#include <immintrin.h>

#include "kernels/avx512.h"
#include "kernels/epilogue.h"

namespace pynn {
namespace avx512 {

constexpr int kMR = kTileRows;  // 14 rows of a tile: 28 accumulators + 2 B vectors + 1 broadcast = 31 zmm
constexpr int kNR = static_cast<int>(kPanel);  // 32 columns of a tile (two zmm)

inline idx imin(idx a, idx b) { return a < b ? a : b; }

inline __mmask16 first_n(int n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u); }

// In-register transpose of a 16 x 16 block: r[i] holds row i on entry, column i on exit.
inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    // u[4a + c] holds, in 128-bit lane L, column 4L + c of rows 4a..4a+3.
    for (int a = 0; a < 2; ++a)
        for (int c = 0; c < 4; ++c) {
            t[8 * a + c] = _mm512_shuffle_f32x4(u[8 * a + c], u[8 * a + 4 + c], 0x88);      // lanes 0,2 | 0,2
            t[8 * a + 4 + c] = _mm512_shuffle_f32x4(u[8 * a + c], u[8 * a + 4 + c], 0xDD);  // lanes 1,3 | 1,3
        }
    for (int c = 0; c < 4; ++c) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xDD);
        r[4 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0xDD);
    }
}

// Panel p of W (outputs 32 p .. 32 p + 31) in blocks of 16 inputs x 32 outputs: 32 row
// segments in, two 16 x 16 transposes; store(k0, kn, h, r) receives r[k] = outputs
// 16 h .. 16 h + 15 at input k0 + k (zero past kn inputs and past O outputs).
template <typename Store>
inline void for_panel_blocks(const float* W, idx O, idx I, idx p, Store store) {
    for (idx k0 = 0; k0 < I; k0 += 16) {
        const int kn = static_cast<int>(imin(16, I - k0));
        const __mmask16 km = first_n(kn);
        for (int h = 0; h < 2; ++h) {
            __m512 r[16];
            for (int j = 0; j < 16; ++j) {
                const idx o = p * kNR + 16 * h + j;
                r[j] = o < O ? _mm512_maskz_loadu_ps(km, W + o * I + k0) : _mm512_setzero_ps();
            }
            transpose16(r);
            store(k0, kn, h, r);
        }
    }
}

// The tile engine of avx512_gemm.cpp, over float32 operands or (bf16) pairs of bfloat16 in
// 32-bit slots, K counting pairs.
// Rows [r0, r0 + rows) x output panel p of act(A B + b): A's rows start at A (stride a_rs,
// K steps of one float or one bf16 pair), B is the panel (K x 32).
void forward_tile(float* Y, const float* A, idx a_rs, idx K, const float* panel, const float* b, idx O,
                  EpilogueAct act, float alpha, idx r0, int rows, idx p, bool bf16);
// Output rows [o0, o0 + rows) x input panel p of dW = dY^T X over K steps (rows of the batch,
// or row pairs for bf16): A = dY's columns from o0 (a_ks per step), B = X's columns from
// 32 p (b_ks per step); db with the first panel. False when a value is inf or NaN.
bool dw_tile_of(float* dW, float* db, const float* dY, const float* A, idx a_ks, const float* Bx, idx b_ks, idx K,
                idx B, idx I, idx O, idx o0, int rows, idx p, bool bf16);
// dense_forward over B rows of A (a_rs slots apart, K steps each) and panels of K x 32
// slots: float32 (K = I) or bf16 pairs (K = (I + 1) / 2).
void forward_rows(float* Y, const float* A, idx a_rs, idx K, const float* P, const float* b, idx B, idx I, idx O,
                  EpilogueAct act, float alpha, bool bf16);
// dense_backward_dx over B rows of A (dY: a_rs slots apart, K steps) and B operand Bm (K
// rows of I slots): float32 (K = O, Bm = W) or bf16 pairs (K = (O + 1) / 2, Bm = W's row pairs).
void dx_rows(float* dX, const float* A, idx a_rs, idx K, const float* Bm, idx B, idx I, idx O, const float* y_prev,
             EpilogueAct act, float alpha, bool bf16);

}  // namespace avx512
}  // namespace pynn
