// AVX-512 float32 GEMM kernels of a dense layer (avx512.h): the register-blocked
// microkernel, its tiles and the packing of W. Uses kernels/ only; everything below the target
// pragma is compiled for AVX-512 (F/BW/VL/DQ + FMA, + BF16 for the microkernel's bf16
// variant) and reached only where dispatch/ found the CPU has it, so the library still
// loads and runs on any x86-64.
//
// One microkernel serves the three GEMMs of a dense layer. It computes a tile of
// C (M,N) = A (M,K) B (K,N) of MR <= 14 rows and 16 NV <= 32 columns, keeping the tile in
// MR x NV zmm registers over the whole K loop (no K blocking: every operand row the
// loop streams is at most a few KB, served by L1/L2). A is read by broadcasting one
// element per row and k (strides a_rs, a_ks), B by 1-2 vector loads per k (stride b_ks):
//   forward  Y = X W^T:  A = X (rows: samples),  B = W packed in 32-output panels;
//   dX = dY W:           A = dY,                 B = W as stored (rows of W are contiguous);
//   dW = dY^T X:         A = dY read transposed, B = X as stored.
// Only the forward needs packing: it is the one product whose B operand is W^T.
// The bf16 kernels (avx512_bf16.cpp) run the same microkernel over pairs of bfloat16 in
// 32-bit slots: the forward with X's rows and W's panels as pairs along k, dW with X and
// dY as interleaved row pairs (pairs along the batch).
#include "kernels/avx512.h"

#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "kernels/blocking.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")
// avx512bf16 only for the microkernel's bf16 variant (GCC never emits those instructions
// for float code); it runs only where the CPU has them (dispatch/cpu.h's avx512_bf16).
#include "kernels/avx512_internal.h"
#include "kernels/column_sums.h"

namespace pynn {
namespace avx512 {
namespace {

// BF16: A and B hold pairs of bfloat16 (k even in the low half, k odd in the high half)
// in 32-bit slots, with the same strides as floats; K counts pairs; each step is one
// vdpbf16ps (two multiply-adds per lane into the float accumulator).
template <int MR, int NV, bool MASKED, bool BF16>
void micro(idx K, const float* A, idx a_rs, idx a_ks, const float* Bm, idx b_ks, int ncols, float* C,
           idx ldc, const Epilogue& e) {
    const __mmask16 m0 = first_n(ncols), m1 = first_n(ncols - 16 > 0 ? ncols - 16 : 0);
    __m512 acc[MR][NV];
#pragma GCC unroll 14
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (idx k = 0; k < K; ++k) {
        __m512 b[NV];
        if (MASKED) {
            b[0] = _mm512_maskz_loadu_ps(m0, Bm);
            if (NV > 1) b[NV - 1] = _mm512_maskz_loadu_ps(m1, Bm + 16);
        } else {
            b[0] = _mm512_loadu_ps(Bm);
            if (NV > 1) b[NV - 1] = _mm512_loadu_ps(Bm + 16);
        }
        const float* a = A + k * a_ks;
#pragma GCC unroll 14
        for (int r = 0; r < MR; ++r) {
            const __m512 av = _mm512_set1_ps(a[r * a_rs]);  // bf16: a bit-exact broadcast of the pair
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v) {
                if (BF16) {
                    acc[r][v] = _mm512_dpbf16_ps(acc[r][v], (__m512bh)_mm512_castps_si512(av),
                                                 (__m512bh)_mm512_castps_si512(b[v]));
                } else {
                    acc[r][v] = _mm512_fmadd_ps(av, b[v], acc[r][v]);
                }
            }
        }
        Bm += b_ks;
    }
    const __m512 zero = _mm512_setzero_ps(), alpha = _mm512_set1_ps(e.alpha);
    __mmask16 bad = 0;  // lanes where z - z is NaN: z was inf or NaN
    __m512 bias[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v)
        bias[v] = e.kind == EpilogueKind::bias_act && e.bias ? _mm512_maskz_loadu_ps(v ? m1 : m0, e.bias + 16 * v) : zero;
#pragma GCC unroll 14
    for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) {
            const __mmask16 m = v ? m1 : m0;
            __m512 z = acc[r][v];
            if (e.kind == EpilogueKind::bias_act) {
                z = _mm512_add_ps(z, bias[v]);
                if (e.act == EpilogueAct::relu) {
                    z = _mm512_max_ps(z, zero);
                } else if (e.act == EpilogueAct::leaky_relu) {
                    const __mmask16 neg = _mm512_cmp_ps_mask(z, zero, _CMP_LE_OQ);
                    z = _mm512_mask_mul_ps(z, neg, z, alpha);
                }
            } else if (e.kind == EpilogueKind::act_grad && e.act != EpilogueAct::identity) {
                // relu / leaky relu (alpha >= 0): the derivative is 1 where the output is > 0.
                const __m512 y = _mm512_maskz_loadu_ps(m, e.y_prev + r * e.ld_prev + 16 * v);
                const __mmask16 off = _mm512_cmp_ps_mask(y, zero, _CMP_LE_OQ);
                z = e.act == EpilogueAct::relu ? _mm512_mask_mov_ps(z, off, zero) : _mm512_mask_mul_ps(z, off, z, alpha);
            }
            if (e.nonfinite) bad |= _mm512_mask_cmp_ps_mask(m, _mm512_sub_ps(z, z), zero, _CMP_NEQ_UQ);
            _mm512_mask_storeu_ps(C + r * ldc + 16 * v, m, z);
        }
    }
    if (bad) *e.nonfinite = true;
}

using MicroFn = void (*)(idx, const float*, idx, idx, const float*, idx, int, float*, idx, const Epilogue&);

template <int MR>
struct Row {
    static constexpr MicroFn fn[2][2][2] = {
        {{micro<MR, 1, false, false>, micro<MR, 1, true, false>}, {micro<MR, 2, false, false>, micro<MR, 2, true, false>}},
        {{micro<MR, 1, false, true>, micro<MR, 1, true, true>}, {micro<MR, 2, false, true>, micro<MR, 2, true, true>}}};
};

// table[MR - 1][bf16][NV - 1][masked]
const MicroFn* const kTable[kMR] = {
    &Row<1>::fn[0][0][0], &Row<2>::fn[0][0][0],  &Row<3>::fn[0][0][0],  &Row<4>::fn[0][0][0],  &Row<5>::fn[0][0][0],
    &Row<6>::fn[0][0][0], &Row<7>::fn[0][0][0],  &Row<8>::fn[0][0][0],  &Row<9>::fn[0][0][0],  &Row<10>::fn[0][0][0],
    &Row<11>::fn[0][0][0], &Row<12>::fn[0][0][0], &Row<13>::fn[0][0][0], &Row<14>::fn[0][0][0]};

inline MicroFn pick(int mr, int ncols, bool masked, bool bf16 = false) {
    return kTable[mr - 1][(bf16 ? 4 : 0) + (ncols > 16 ? 1 : 0) * 2 + (masked ? 1 : 0)];
}

}  // namespace

idx packed_size(idx O, idx I) { return (O + kNR - 1) / kNR * kNR * I; }

void pack_panel(float* P, const float* W, idx O, idx I, idx p) {
    float* dst = P + p * I * kNR;
    for_panel_blocks(W, O, I, p, [dst](idx k0, int kn, int h, const __m512* r) {
        for (int k = 0; k < kn; ++k) _mm512_storeu_ps(dst + (k0 + k) * kNR + 16 * h, r[k]);
    });
}

void unpack_panel(float* W, const float* P, idx O, idx I, idx p) {
    const float* src = P + p * I * kNR;
    for (idx k0 = 0; k0 < I; k0 += 16) {
        const int kn = static_cast<int>(imin(16, I - k0));
        const __mmask16 km = first_n(kn);
        for (int h = 0; h < 2; ++h) {
            __m512 r[16];  // r[k] = outputs 16 h .. 16 h + 15 at input k0 + k
            for (int k = 0; k < 16; ++k)
                r[k] = k < kn ? _mm512_loadu_ps(src + (k0 + k) * kNR + 16 * h) : _mm512_setzero_ps();
            transpose16(r);  // r[j] = output 16 h + j at inputs k0 ..
            for (int j = 0; j < 16; ++j) {
                const idx o = p * kNR + 16 * h + j;
                if (o < O) _mm512_mask_storeu_ps(W + o * I + k0, km, r[j]);
            }
        }
    }
}

void pack_weights(float* P, const float* W, idx O, idx I) {
    const idx npan = (O + kNR - 1) / kNR;
#pragma omp parallel for schedule(static) num_threads(gemm_threads(O * I, npan))
    for (idx p = 0; p < npan; ++p) pack_panel(P, W, O, I, p);
}

idx row_block_count(idx B, int max_rows) { return RowBlocks(B, max_rows).n; }

void row_block(idx B, idx i, idx* r0, int* rows, int max_rows) {
    const RowBlocks rb(B, max_rows);
    *r0 = rb.start(i);
    *rows = rb.rows(i, B);
}

void forward_tile(float* Y, const float* A, idx a_rs, idx K, const float* panel, const float* b, idx O,
                  EpilogueAct act, float alpha, idx r0, int rows, idx p, bool bf16) {
    const idx c0 = p * kNR;
    const int nc = static_cast<int>(imin(kNR, O - c0));
    const Epilogue e = Epilogue::bias_activation(b ? b + c0 : nullptr, act, alpha);
    pick(rows, nc, false, bf16)(K, A, a_rs, 1, panel, kNR, nc, Y + r0 * O + c0, O, e);
}

bool dw_tile_of(float* dW, float* db, const float* dY, const float* A, idx a_ks, const float* Bx, idx b_ks, idx K,
                idx B, idx I, idx O, idx o0, int rows, idx p, bool bf16) {
    const idx c0 = p * kNR;
    const int nc = static_cast<int>(imin(kNR, I - c0));
    bool nonfinite = false;
    Epilogue e;
    e.nonfinite = &nonfinite;
    if (B == 0) {
        for (int r = 0; r < rows; ++r) std::memset(dW + (o0 + r) * I + c0, 0, sizeof(float) * static_cast<size_t>(nc));
    } else {
        pick(rows, nc, nc != kNR, bf16)(K, A, 1, a_ks, Bx, b_ks, nc, dW + o0 * I + c0, I, e);
    }
    // The bias gradient rides along with the first column panel: its dY columns are
    // the ones this tile just read.
    if (db && p == 0) nonfinite |= !column_sums(db, dY, B, O, o0, rows);
    return !nonfinite;
}

bool dw_packed_tile(float* Gq, const float* dY, const float* X, idx B, idx I, idx O, idx i0, int rows, idx q) {
    const idx c0 = q * kNR;
    const int nc = static_cast<int>(imin(kNR, O - c0));
    if (B == 0) {
        for (int r = 0; r < rows; ++r) std::memset(Gq + (i0 + r) * kNR, 0, sizeof(float) * static_cast<size_t>(nc));
        return true;
    }
    bool nonfinite = false;
    Epilogue e;
    e.nonfinite = &nonfinite;
    // A = X's columns i0.. (row k of the batch at X + k I), B = dY's columns of panel q: the
    // transpose of dw_tile's product, each sum over the batch in the same order (a b = b a).
    pick(rows, nc, nc != kNR)(B, X + i0, 1, I, dY + c0, O, nc, Gq + i0 * kNR, kNR, e);
    return !nonfinite;
}

void dense_forward_tile(float* Y, const float* X, const float* P, const float* b, idx I, idx O, EpilogueAct act,
                        float alpha, idx r0, int rows, idx p) {
    forward_tile(Y, X + r0 * I, I, I, P + p * I * kNR, b, O, act, alpha, r0, rows, p, false);
}

void forward_rows(float* Y, const float* A, idx a_rs, idx K, const float* P, const float* b, idx B, idx I, idx O,
                  EpilogueAct act, float alpha, bool bf16) {
    if (B == 0) return;
    const RowBlocks rb(B, kMR);
    const idx npan = (O + kNR - 1) / kNR, tasks = rb.n * npan;
    // Small batches: each thread takes whole weight panels (they stay in its L2 across
    // the row blocks). Large batches (inference): each thread takes whole row blocks.
    const bool panel_major = B <= 256;
#pragma omp parallel for schedule(static) num_threads(gemm_threads(B * I * O, tasks))
    for (idx t = 0; t < tasks; ++t) {
        const idx p = panel_major ? t / rb.n : t % npan;
        const idx i = panel_major ? t % rb.n : t / npan;
        const idx r0 = rb.start(i);
        forward_tile(Y, A + r0 * a_rs, a_rs, K, P + p * K * kNR, b, O, act, alpha, r0, rb.rows(i, B), p, bf16);
    }
}

void dx_rows(float* dX, const float* A, idx a_rs, idx K, const float* Bm, idx B, idx I, idx O, const float* y_prev,
             EpilogueAct act, float alpha, bool bf16) {
    if (B == 0) return;
    const RowBlocks rb(B, kMR);
    const idx npan = (I + kNR - 1) / kNR, tasks = rb.n * npan;
#pragma omp parallel for schedule(static) num_threads(gemm_threads(B * I * O, tasks))
    for (idx t = 0; t < tasks; ++t) {
        const idx p = t / rb.n, i = t % rb.n;
        const idx r0 = rb.start(i), c0 = p * kNR;
        const int mr = rb.rows(i, B), nc = static_cast<int>(imin(kNR, I - c0));
        const Epilogue e = y_prev ? Epilogue::activation_gradient(y_prev + r0 * I + c0, I, act, alpha) : Epilogue();
        pick(mr, nc, nc != kNR, bf16)(K, A + r0 * a_rs, a_rs, 1, Bm + c0, I, nc, dX + r0 * I + c0, I, e);
    }
}

void dense_forward(float* Y, const float* X, const float* P, const float* b, idx B, idx I, idx O,
                   EpilogueAct act, float alpha) {
    forward_rows(Y, X, I, I, P, b, B, I, O, act, alpha, false);
}

void dense_backward_dx(float* dX, const float* dY, const float* W, idx B, idx I, idx O,
                       const float* y_prev, EpilogueAct act, float alpha) {
    dx_rows(dX, dY, O, O, W, B, I, O, y_prev, act, alpha, false);
}

bool dw_tile(float* dW, float* db, const float* dY, const float* X, idx B, idx I, idx O, idx o0, int rows, idx p) {
    return dw_tile_of(dW, db, dY, dY + o0, O, X + p * kNR, I, B, B, I, O, o0, rows, p, false);
}

void dense_backward_dw(float* dW, float* db, const float* dY, const float* X, idx B, idx I, idx O) {
    const RowBlocks ob(O, kMR);
    const idx npan = (I + kNR - 1) / kNR, tasks = ob.n * npan;
#pragma omp parallel for schedule(static) num_threads(gemm_threads(B * I * O, tasks))
    for (idx t = 0; t < tasks; ++t) dw_tile(dW, db, dY, X, B, I, O, ob.start(t / npan), ob.rows(t / npan, O), t % npan);
}

}  // namespace avx512
}  // namespace pynn

#pragma GCC pop_options
#else
// Not GCC/Clang on x86: the kernels do not exist and avx512_supported() is false.
namespace pynn {
namespace avx512 {
idx packed_size(idx, idx) { return 0; }
void pack_weights(float*, const float*, idx, idx) { throw std::logic_error("AVX-512 kernels not built"); }
void pack_panel(float*, const float*, idx, idx, idx) { throw std::logic_error("AVX-512 kernels not built"); }
void unpack_panel(float*, const float*, idx, idx, idx) { throw std::logic_error("AVX-512 kernels not built"); }
bool dw_packed_tile(float*, const float*, const float*, idx, idx, idx, idx, int, idx) {
    throw std::logic_error("AVX-512 kernels not built");
}
void dense_forward(float*, const float*, const float*, const float*, idx, idx, idx, EpilogueAct, float) {
    throw std::logic_error("AVX-512 kernels not built");
}
void dense_backward_dx(float*, const float*, const float*, idx, idx, idx, const float*, EpilogueAct, float) {
    throw std::logic_error("AVX-512 kernels not built");
}
void dense_backward_dw(float*, float*, const float*, const float*, idx, idx, idx) {
    throw std::logic_error("AVX-512 kernels not built");
}
idx row_block_count(idx, int) { return 0; }
void row_block(idx, idx, idx*, int*, int) { throw std::logic_error("AVX-512 kernels not built"); }
void dense_forward_tile(float*, const float*, const float*, const float*, idx, idx, EpilogueAct, float, idx, int, idx) {
    throw std::logic_error("AVX-512 kernels not built");
}
bool dw_tile(float*, float*, const float*, const float*, idx, idx, idx, idx, int, idx) {
    throw std::logic_error("AVX-512 kernels not built");
}
}  // namespace avx512
}  // namespace pynn
#endif
