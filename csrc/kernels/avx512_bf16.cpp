// AVX-512 bfloat16 kernels of a dense layer (avx512_bf16.h): the conversions of float32
// operands into pairs of bfloat16 (vcvtne2ps2bf16) and the products over them, on the
// float32 kernels' microkernel with vdpbf16ps (avx512_gemm.cpp). Uses kernels/ only; built
// for AVX-512 F/BW/VL/DQ + BF16 and reached only where dispatch/ found the CPU has them.
#include "kernels/avx512_bf16.h"

#include <cstdint>
#include <stdexcept>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")
#include "kernels/avx512_internal.h"

namespace pynn {
namespace avx512 {

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
                             idx O, EpilogueAct act, float alpha, idx r0, int rows, idx p) {
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
                        idx O, EpilogueAct act, float alpha) {
    const idx I2 = (I + 1) / 2;
    forward_rows(Y, reinterpret_cast<const float*>(Xb), I2, I2, reinterpret_cast<const float*>(P), b, B, I, O, act,
                 alpha, true);
}

void dense_backward_dx_bf16(float* dX, const std::uint32_t* dYb, const std::uint32_t* Wp, idx B, idx I, idx O,
                            const float* y_prev, EpilogueAct act, float alpha) {
    const idx O2 = (O + 1) / 2;
    dx_rows(dX, reinterpret_cast<const float*>(dYb), O2, O2, reinterpret_cast<const float*>(Wp), B, I, O, y_prev,
            act, alpha, true);
}

}  // namespace avx512
}  // namespace pynn

#pragma GCC pop_options
#else
// Not GCC/Clang on x86: the kernels do not exist and avx512_supported() is false.
namespace pynn {
namespace avx512 {
void pack_panel_bf16(std::uint32_t*, const float*, idx, idx, idx) { throw std::logic_error("AVX-512 kernels not built"); }
void row_to_bf16(std::uint32_t*, const float*, idx) { throw std::logic_error("AVX-512 kernels not built"); }
void rows_to_bf16_pairs(std::uint32_t*, const float*, const float*, idx) {
    throw std::logic_error("AVX-512 kernels not built");
}
void dense_forward_tile_bf16(float*, const std::uint32_t*, const std::uint32_t*, const float*, idx, idx, EpilogueAct,
                             float, idx, int, idx) {
    throw std::logic_error("AVX-512 kernels not built");
}
bool dw_tile_bf16(float*, float*, const float*, const std::uint32_t*, const std::uint32_t*, idx, idx, idx, idx, int,
                  idx) {
    throw std::logic_error("AVX-512 kernels not built");
}
void pack_row_pairs_bf16(std::uint32_t*, const float*, idx, idx, idx) { throw std::logic_error("AVX-512 kernels not built"); }
void dense_forward_bf16(float*, const std::uint32_t*, const std::uint32_t*, const float*, idx, idx, idx, EpilogueAct,
                        float) {
    throw std::logic_error("AVX-512 kernels not built");
}
void dense_backward_dx_bf16(float*, const std::uint32_t*, const std::uint32_t*, idx, idx, idx, const float*, EpilogueAct,
                            float) {
    throw std::logic_error("AVX-512 kernels not built");
}
}  // namespace avx512
}  // namespace pynn
#endif
