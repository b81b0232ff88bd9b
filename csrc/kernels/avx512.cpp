// AVX-512 float32 kernels; see kernels/avx512.h. Everything below the target pragma is
// compiled for AVX-512 (F/BW/VL/DQ + FMA, + BF16 for the bf16 kernels) and reached only
// through the run-time checks in dispatch/kernel_switch.cpp, so the library still loads and runs on any
// x86-64.
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
// The bf16 kernels (AVX512_BF16, bf16_supported() in dispatch/kernel_switch.cpp) are the same microkernel
// over pairs of bfloat16 in 32-bit slots: the forward with X's rows and W's panels as
// pairs along k, dW with X and dY as interleaved row pairs (pairs along the batch).
#include "kernels/avx512.h"

#include "kernels/blocking.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#pragma GCC push_options
// avx512bf16 only for the bf16 kernels' intrinsics (GCC never emits those instructions for
// float code); they run only where bf16_supported() says the CPU has them.
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")

namespace pynn {
namespace avx512 {
namespace {

constexpr int kMR = kTileRows;  // 14 rows of a tile: 28 accumulators + 2 B vectors + 1 broadcast = 31 zmm
constexpr int kNR = static_cast<int>(kPanel);  // 32 columns of a tile (two zmm)

enum class Epi : int { store, bias_act, act_grad };

// What the tile's store does besides storing.
struct Epilogue {
    Epi kind = Epi::store;
    FusedAct act = FusedAct::identity;
    float alpha = 0.0f;
    const float* bias = nullptr;    // bias_act: bias of this tile's first column (or nullptr)
    const float* y_prev = nullptr;  // act_grad: output of the activation at this tile's (0, 0)
    idx ld_prev = 0;
    bool* nonfinite = nullptr;      // store: set when a stored value is inf or NaN (else untouched)
};

inline idx imin(idx a, idx b) { return a < b ? a : b; }

inline __mmask16 first_n(int n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u); }

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
        bias[v] = e.kind == Epi::bias_act && e.bias ? _mm512_maskz_loadu_ps(v ? m1 : m0, e.bias + 16 * v) : zero;
#pragma GCC unroll 14
    for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) {
            const __mmask16 m = v ? m1 : m0;
            __m512 z = acc[r][v];
            if (e.kind == Epi::bias_act) {
                z = _mm512_add_ps(z, bias[v]);
                if (e.act == FusedAct::relu) {
                    z = _mm512_max_ps(z, zero);
                } else if (e.act == FusedAct::leaky_relu) {
                    const __mmask16 neg = _mm512_cmp_ps_mask(z, zero, _CMP_LE_OQ);
                    z = _mm512_mask_mul_ps(z, neg, z, alpha);
                }
            } else if (e.kind == Epi::act_grad && e.act != FusedAct::identity) {
                // relu / leaky relu (alpha >= 0): the derivative is 1 where the output is > 0.
                const __m512 y = _mm512_maskz_loadu_ps(m, e.y_prev + r * e.ld_prev + 16 * v);
                const __mmask16 off = _mm512_cmp_ps_mask(y, zero, _CMP_LE_OQ);
                z = e.act == FusedAct::relu ? _mm512_mask_mov_ps(z, off, zero) : _mm512_mask_mul_ps(z, off, z, alpha);
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

// db[o0 .. o0 + rows) = column sums of dY (B, O) over its B rows (one float add per row, in
// row order); false when a sum is inf or NaN.
bool column_sums(float* db, const float* dY, idx B, idx O, idx o0, int rows) {
    float acc[kMR] = {};
    for (idx b = 0; b < B; ++b) {
        const float* d = dY + b * O + o0;
        for (int r = 0; r < rows; ++r) acc[r] += d[r];
    }
    bool finite = true;
    for (int r = 0; r < rows; ++r) {
        db[o0 + r] = acc[r];
        finite &= std::isfinite(acc[r]);
    }
    return finite;
}

}  // namespace

idx packed_size(idx O, idx I) { return (O + kNR - 1) / kNR * kNR * I; }

namespace {
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
}  // namespace

namespace {
// Panel p of W (outputs 32 p .. 32 p + 31) in blocks of 16 inputs x 32 outputs: 32 row
// segments in, two 16 x 16 transposes; store(k0, kn, h, r) receives r[k] = outputs
// 16 h .. 16 h + 15 at input k0 + k (zero past kn inputs and past O outputs).
template <typename Store>
void for_panel_blocks(const float* W, idx O, idx I, idx p, Store store) {
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
}  // namespace

void pack_panel(float* P, const float* W, idx O, idx I, idx p) {
    float* dst = P + p * I * kNR;
    for_panel_blocks(W, O, I, p, [dst](idx k0, int kn, int h, const __m512* r) {
        for (int k = 0; k < kn; ++k) _mm512_storeu_ps(dst + (k0 + k) * kNR + 16 * h, r[k]);
    });
}

void pack_weights(float* P, const float* W, idx O, idx I) {
    const idx npan = (O + kNR - 1) / kNR;
#pragma omp parallel for schedule(static) num_threads(gemm_threads(O * I, npan))
    for (idx p = 0; p < npan; ++p) pack_panel(P, W, O, I, p);
}

void adam_panel_rows(float* W, const float* G, float* M, float* V, idx O, idx I, idx panel, const AdamF32& a) {
    // The panel's rows are one contiguous block of W: Adam streams through it (the
    // prefetchers follow 4 sequential streams; a tile-wise walk over 128 short
    // segments measured slower), then the caller packs the panel, now in L1/L2. The loop is
    // memory-bound (p, g, m, v of a large layer live in L3): rsqrt/rcp estimates in
    // place of vsqrtps/vdivps measured no faster, so the exact operations stay.
    const __m512 l2 = _mm512_set1_ps(a.l2), omb1 = _mm512_set1_ps(a.one_minus_b1), b2 = _mm512_set1_ps(a.b2);
    const __m512 omb2 = _mm512_set1_ps(a.one_minus_b2), inv = _mm512_set1_ps(a.inv_bc2_sqrt);
    const __m512 eps = _mm512_set1_ps(a.eps), keep = _mm512_set1_ps(a.keep), step = _mm512_set1_ps(a.step_size);
    const idx o0 = panel * kNR, rows = imin(kNR, O - o0);
    const idx lo = o0 * I, n = rows * I;
    for (idx i = 0; i < n; i += 16) {
        const __mmask16 km = first_n(static_cast<int>(imin(16, n - i)));
        const idx at = lo + i;
        const __m512 p0 = _mm512_maskz_loadu_ps(km, W + at);
        const __m512 g = _mm512_add_ps(_mm512_maskz_loadu_ps(km, G + at), _mm512_mul_ps(l2, p0));
        __m512 m = _mm512_maskz_loadu_ps(km, M + at);
        m = _mm512_add_ps(m, _mm512_mul_ps(omb1, _mm512_sub_ps(g, m)));
        __m512 v = _mm512_maskz_loadu_ps(km, V + at);
        v = _mm512_add_ps(_mm512_mul_ps(b2, v), _mm512_mul_ps(_mm512_mul_ps(omb2, g), g));
        const __m512 denom = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(v), inv), eps);
        const __m512 p1 = _mm512_sub_ps(_mm512_mul_ps(p0, keep), _mm512_div_ps(_mm512_mul_ps(step, m), denom));
        _mm512_mask_storeu_ps(M + at, km, m);
        _mm512_mask_storeu_ps(V + at, km, v);
        _mm512_mask_storeu_ps(W + at, km, p1);
    }
}

idx row_block_count(idx B, int max_rows) { return RowBlocks(B, max_rows).n; }

void row_block(idx B, idx i, idx* r0, int* rows, int max_rows) {
    const RowBlocks rb(B, max_rows);
    *r0 = rb.start(i);
    *rows = rb.rows(i, B);
}

namespace {
// Rows [r0, r0 + rows) x output panel p of act(A B + b): A's rows start at A (stride a_rs,
// K steps of one float or one bf16 pair), B is the panel (K x 32).
void forward_tile(float* Y, const float* A, idx a_rs, idx K, const float* panel, const float* b, idx O,
                  FusedAct act, float alpha, idx r0, int rows, idx p, bool bf16) {
    const idx c0 = p * kNR;
    const int nc = static_cast<int>(imin(kNR, O - c0));
    Epilogue e;
    e.kind = Epi::bias_act;
    e.act = act;
    e.alpha = alpha;
    e.bias = b ? b + c0 : nullptr;
    pick(rows, nc, false, bf16)(K, A, a_rs, 1, panel, kNR, nc, Y + r0 * O + c0, O, e);
}

// Output rows [o0, o0 + rows) x input panel p of dW = dY^T X over K steps (rows of the batch,
// or row pairs for bf16): A = dY's columns from o0 (a_ks per step), B = X's columns from
// 32 p (b_ks per step); db with the first panel. False when a value is inf or NaN.
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
}  // namespace

void dense_forward_tile(float* Y, const float* X, const float* P, const float* b, idx I, idx O, FusedAct act,
                        float alpha, idx r0, int rows, idx p) {
    forward_tile(Y, X + r0 * I, I, I, P + p * I * kNR, b, O, act, alpha, r0, rows, p, false);
}

namespace {
// dense_forward over B rows of A (a_rs slots apart, K steps each) and panels of K x 32
// slots: float32 (K = I) or bf16 pairs (K = (I + 1) / 2).
void forward_rows(float* Y, const float* A, idx a_rs, idx K, const float* P, const float* b, idx B, idx I, idx O,
                  FusedAct act, float alpha, bool bf16) {
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

// dense_backward_dx over B rows of A (dY: a_rs slots apart, K steps) and B operand Bm (K
// rows of I slots): float32 (K = O, Bm = W) or bf16 pairs (K = (O + 1) / 2, Bm = W's row pairs).
void dx_rows(float* dX, const float* A, idx a_rs, idx K, const float* Bm, idx B, idx I, idx O, const float* y_prev,
             FusedAct act, float alpha, bool bf16) {
    if (B == 0) return;
    const RowBlocks rb(B, kMR);
    const idx npan = (I + kNR - 1) / kNR, tasks = rb.n * npan;
#pragma omp parallel for schedule(static) num_threads(gemm_threads(B * I * O, tasks))
    for (idx t = 0; t < tasks; ++t) {
        const idx p = t / rb.n, i = t % rb.n;
        const idx r0 = rb.start(i), c0 = p * kNR;
        const int mr = rb.rows(i, B), nc = static_cast<int>(imin(kNR, I - c0));
        Epilogue e;
        if (y_prev) {
            e.kind = Epi::act_grad;
            e.act = act;
            e.alpha = alpha;
            e.y_prev = y_prev + r0 * I + c0;
            e.ld_prev = I;
        }
        pick(mr, nc, nc != kNR, bf16)(K, A + r0 * a_rs, a_rs, 1, Bm + c0, I, nc, dX + r0 * I + c0, I, e);
    }
}
}  // namespace

void dense_forward(float* Y, const float* X, const float* P, const float* b, idx B, idx I, idx O,
                   FusedAct act, float alpha) {
    forward_rows(Y, X, I, I, P, b, B, I, O, act, alpha, false);
}

void dense_backward_dx(float* dX, const float* dY, const float* W, idx B, idx I, idx O,
                       const float* y_prev, FusedAct act, float alpha) {
    dx_rows(dX, dY, O, O, W, B, I, O, y_prev, act, alpha, false);
}

bool dw_tile(float* dW, float* db, const float* dY, const float* X, idx B, idx I, idx O, idx o0, int rows, idx p) {
    return dw_tile_of(dW, db, dY, dY + o0, O, X + p * kNR, I, B, B, I, O, o0, rows, p, false);
}

namespace {
// 32 bfloat16 (round to nearest even) of lo (16 floats) and hi (16 floats), as 16 pairs
// (lo[i], hi[i]) in 32-bit slots: the operand layout of vdpbf16ps.
inline __m512i bf16_pairs(__m512 lo, __m512 hi) {
    const __m512i halves = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // lo[0..15], hi[0..15]
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                                23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(interleave, halves);
}
}  // namespace

void pack_panel_bf16(std::uint32_t* P, const float* W, idx O, idx I, idx p) {
    // pack_panel's blocks, rows k and k + 1 of each as pairs.
    std::uint32_t* dst = P + p * ((I + 1) / 2) * kNR;
    for_panel_blocks(W, O, I, p, [dst](idx k0, int kn, int h, const __m512* r) {
        for (int kk = 0; 2 * kk < kn; ++kk)
            _mm512_storeu_si512(dst + (k0 / 2 + kk) * kNR + 16 * h, bf16_pairs(r[2 * kk], r[2 * kk + 1]));
    });
}

void row_to_bf16(std::uint32_t* dst, const float* x, idx n) {
    // Consecutive elements are already the (k even, k odd) pairs.
    for (idx i = 0; i < n; i += 32) {
        const __m512 lo = _mm512_maskz_loadu_ps(first_n(static_cast<int>(imin(16, n - i))), x + i);
        const __m512 hi = i + 16 < n ? _mm512_maskz_loadu_ps(first_n(static_cast<int>(imin(16, n - i - 16))), x + i + 16)
                                     : _mm512_setzero_ps();
        const idx pairs = imin(16, (n - i + 1) / 2);
        _mm512_mask_storeu_epi32(dst + i / 2, first_n(static_cast<int>(pairs)),
                                 (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
}

void rows_to_bf16_pairs(std::uint32_t* dst, const float* row0, const float* row1, idx n) {
    for (idx i = 0; i < n; i += 16) {
        const __mmask16 km = first_n(static_cast<int>(imin(16, n - i)));
        const __m512 lo = _mm512_maskz_loadu_ps(km, row0 + i);
        const __m512 hi = row1 ? _mm512_maskz_loadu_ps(km, row1 + i) : _mm512_setzero_ps();
        _mm512_mask_storeu_epi32(dst + i, km, bf16_pairs(lo, hi));
    }
}

void dense_forward_tile_bf16(float* Y, const std::uint32_t* Xb, const std::uint32_t* P, const float* b, idx I,
                             idx O, FusedAct act, float alpha, idx r0, int rows, idx p) {
    const idx I2 = (I + 1) / 2;
    forward_tile(Y, reinterpret_cast<const float*>(Xb + r0 * I2), I2, I2,
                 reinterpret_cast<const float*>(P + p * I2 * kNR), b, O, act, alpha, r0, rows, p, true);
}

bool dw_tile_bf16(float* dW, float* db, const float* dY, const std::uint32_t* dYp, const std::uint32_t* Xp, idx B,
                  idx I, idx O, idx o0, int rows, idx p) {
    return dw_tile_of(dW, db, dY, reinterpret_cast<const float*>(dYp + o0), O,
                      reinterpret_cast<const float*>(Xp + p * kNR), I, (B + 1) / 2, B, I, O, o0, rows, p, true);
}

void pack_row_pairs_bf16(std::uint32_t* Wp, const float* W, idx O, idx I, idx p) {
    // Panels hold 32 (an even number of) rows: a pair never spans two panels.
    for (idx j = p * kNR / 2; j < imin((p + 1) * kNR / 2, (O + 1) / 2); ++j)
        rows_to_bf16_pairs(Wp + j * I, W + 2 * j * I, 2 * j + 1 < O ? W + (2 * j + 1) * I : nullptr, I);
}

void dense_forward_bf16(float* Y, const std::uint32_t* Xb, const std::uint32_t* P, const float* b, idx B, idx I,
                        idx O, FusedAct act, float alpha) {
    const idx I2 = (I + 1) / 2;
    forward_rows(Y, reinterpret_cast<const float*>(Xb), I2, I2, reinterpret_cast<const float*>(P), b, B, I, O, act,
                 alpha, true);
}

void dense_backward_dx_bf16(float* dX, const std::uint32_t* dYb, const std::uint32_t* Wp, idx B, idx I, idx O,
                            const float* y_prev, FusedAct act, float alpha) {
    const idx O2 = (O + 1) / 2;
    dx_rows(dX, reinterpret_cast<const float*>(dYb), O2, O2, reinterpret_cast<const float*>(Wp), B, I, O, y_prev,
            act, alpha, true);
}

void dense_backward_dw(float* dW, float* db, const float* dY, const float* X, idx B, idx I, idx O) {
    const RowBlocks ob(O, kMR);
    const idx npan = (I + kNR - 1) / kNR, tasks = ob.n * npan;
#pragma omp parallel for schedule(static) num_threads(gemm_threads(B * I * O, tasks))
    for (idx t = 0; t < tasks; ++t) dw_tile(dW, db, dY, X, B, I, O, ob.start(t / npan), ob.rows(t / npan, O), t % npan);
}

namespace {
// exp(x) for x <= 0 and not NaN (a softmax's z - max z): Cephes' expf -- n = round(x log2 e),
// r = x - n ln 2 (ln 2 in two parts), exp(r) by a degree-6 polynomial on |r| <= ln(2) / 2,
// times 2^n by vscalefps (0 once 2^n is below float's smallest subnormal). Within 2 ulp
// of float32 (tests/test_numerics.py checks the gradients it gives to 3e-7).
inline __m512 exp_nonpositive(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));  // exp(-104) rounds to 0 in float32
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, n);
}
}  // namespace

bool softmax_xent_row(const float* z, idx C, idx label, float scale, float* g, double* loss, idx* argmax) {
    if (C < 1 || C > 16 || label < 0 || label >= C) return false;
    const __mmask16 valid = first_n(static_cast<int>(C));
    const __m512 v = _mm512_maskz_loadu_ps(valid, z), zero = _mm512_setzero_ps();
    if (_mm512_mask_cmp_ps_mask(valid, _mm512_sub_ps(v, v), zero, _CMP_NEQ_UQ)) return false;  // inf or NaN
    const float m = _mm512_mask_reduce_max_ps(valid, v);
    *argmax = __builtin_ctz(static_cast<unsigned>(_mm512_mask_cmp_ps_mask(valid, v, _mm512_set1_ps(m), _CMP_EQ_OQ)));
    const __m512 e = _mm512_maskz_mov_ps(valid, exp_nonpositive(_mm512_sub_ps(v, _mm512_set1_ps(m))));
    const double s = _mm512_reduce_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(e))) +
                     _mm512_reduce_add_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
    *loss = std::log(s) - static_cast<double>(z[label] - m);
    if (g) {
        const __m512 p = _mm512_mul_ps(e, _mm512_set1_ps(static_cast<float>(1.0 / s)));
        const __m512 target = _mm512_maskz_mov_ps(static_cast<__mmask16>(1u << label), _mm512_set1_ps(1.0f));
        _mm512_mask_storeu_ps(g, valid, _mm512_mul_ps(_mm512_set1_ps(scale), _mm512_sub_ps(p, target)));
    }
    return true;
}

double fma_peak_gflops(int threads, double seconds) {
    // 12 independent chains of zmm FMAs (more than latency x throughput on current
    // cores), repeated until `seconds` have passed; every thread runs its own chains.
    double total = 0.0, elapsed = 0.0;
    const long iters = 1 << 20;
#pragma omp parallel num_threads(threads > 0 ? threads : 1) reduction(+ : total) reduction(max : elapsed)
    {
        // Twelve named accumulators (an array would live in memory); the empty asm that
        // "may change" them keeps the compiler from folding the chains.
        const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
        __m512 a0 = _mm512_set1_ps(0.f), a1 = _mm512_set1_ps(1.f), a2 = _mm512_set1_ps(2.f), a3 = _mm512_set1_ps(3.f);
        __m512 a4 = _mm512_set1_ps(4.f), a5 = _mm512_set1_ps(5.f), a6 = _mm512_set1_ps(6.f), a7 = _mm512_set1_ps(7.f);
        __m512 a8 = _mm512_set1_ps(8.f), a9 = _mm512_set1_ps(9.f), a10 = _mm512_set1_ps(10.f), a11 = _mm512_set1_ps(11.f);
        const double t0 = omp_get_wtime();
        long reps = 0;
        double t = 0.0;
        do {
            for (long k = 0; k < iters; ++k) {
                a0 = _mm512_fmadd_ps(a0, m, c); a1 = _mm512_fmadd_ps(a1, m, c); a2 = _mm512_fmadd_ps(a2, m, c);
                a3 = _mm512_fmadd_ps(a3, m, c); a4 = _mm512_fmadd_ps(a4, m, c); a5 = _mm512_fmadd_ps(a5, m, c);
                a6 = _mm512_fmadd_ps(a6, m, c); a7 = _mm512_fmadd_ps(a7, m, c); a8 = _mm512_fmadd_ps(a8, m, c);
                a9 = _mm512_fmadd_ps(a9, m, c); a10 = _mm512_fmadd_ps(a10, m, c); a11 = _mm512_fmadd_ps(a11, m, c);
                __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));
                __asm__ volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
            }
            ++reps;
            t = omp_get_wtime() - t0;
        } while (t < seconds);
        __m512 sum = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                                   _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
        sum = _mm512_add_ps(sum, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
        volatile float sink = _mm512_reduce_add_ps(sum);
        (void)sink;
        total += static_cast<double>(reps) * iters * 12 * 32;
        elapsed = t;
    }
    return total / elapsed / 1e9;
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
void dense_forward(float*, const float*, const float*, const float*, idx, idx, idx, FusedAct, float) {
    throw std::logic_error("AVX-512 kernels not built");
}
void dense_backward_dx(float*, const float*, const float*, idx, idx, idx, const float*, FusedAct, float) {
    throw std::logic_error("AVX-512 kernels not built");
}
void dense_backward_dw(float*, float*, const float*, const float*, idx, idx, idx) {
    throw std::logic_error("AVX-512 kernels not built");
}
idx row_block_count(idx, int) { return 0; }
void row_block(idx, idx, idx*, int*, int) { throw std::logic_error("AVX-512 kernels not built"); }
void dense_forward_tile(float*, const float*, const float*, const float*, idx, idx, FusedAct, float, idx, int, idx) {
    throw std::logic_error("AVX-512 kernels not built");
}
bool dw_tile(float*, float*, const float*, const float*, idx, idx, idx, idx, int, idx) {
    throw std::logic_error("AVX-512 kernels not built");
}
double fma_peak_gflops(int, double) { return 0.0; }
bool softmax_xent_row(const float*, idx, idx, float, float*, double*, idx*) { return false; }
void pack_panel_bf16(std::uint32_t*, const float*, idx, idx, idx) { throw std::logic_error("AVX-512 kernels not built"); }
void row_to_bf16(std::uint32_t*, const float*, idx) { throw std::logic_error("AVX-512 kernels not built"); }
void rows_to_bf16_pairs(std::uint32_t*, const float*, const float*, idx) {
    throw std::logic_error("AVX-512 kernels not built");
}
void dense_forward_tile_bf16(float*, const std::uint32_t*, const std::uint32_t*, const float*, idx, idx, FusedAct,
                             float, idx, int, idx) {
    throw std::logic_error("AVX-512 kernels not built");
}
bool dw_tile_bf16(float*, float*, const float*, const std::uint32_t*, const std::uint32_t*, idx, idx, idx, idx, int,
                  idx) {
    throw std::logic_error("AVX-512 kernels not built");
}
void pack_row_pairs_bf16(std::uint32_t*, const float*, idx, idx, idx) { throw std::logic_error("AVX-512 kernels not built"); }
void dense_forward_bf16(float*, const std::uint32_t*, const std::uint32_t*, const float*, idx, idx, idx, FusedAct,
                        float) {
    throw std::logic_error("AVX-512 kernels not built");
}
void dense_backward_dx_bf16(float*, const std::uint32_t*, const std::uint32_t*, idx, idx, idx, const float*, FusedAct,
                            float) {
    throw std::logic_error("AVX-512 kernels not built");
}
void adam_panel_rows(float*, const float*, float*, float*, idx, idx, idx, const AdamF32&) {
    throw std::logic_error("AVX-512 kernels not built");
}
}  // namespace avx512
}  // namespace pynn
#endif
