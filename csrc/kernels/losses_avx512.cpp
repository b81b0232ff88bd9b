// One row of softmax cross-entropy in one zmm (losses.h, avx512::softmax_xent_row), the
// row kernel of losses.cpp for up to 16 float32 classes. Uses kernels/ only; built for
// AVX-512 and reached only where dispatch/ found the CPU has it.
#include <cmath>

#include "kernels/losses.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
#include "kernels/avx512_internal.h"
#include "kernels/avx512_exp.h"

namespace pynn {
namespace avx512 {

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

}  // namespace avx512
}  // namespace pynn

#pragma GCC pop_options
#else
// Not GCC/Clang on x86: the kernels do not exist and avx512_supported() is false.
namespace pynn {
namespace avx512 {
bool softmax_xent_row(const float*, idx, idx, float, float*, double*, idx*) { return false; }
}  // namespace avx512
}  // namespace pynn
#endif
