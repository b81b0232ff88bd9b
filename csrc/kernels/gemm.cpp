// GEMM through the vendored OpenBLAS's CBLAS (gemm.h): sizes checked to fit BLAS's int.
#include "kernels/gemm.h"

#include <climits>
#include <type_traits>

#include <cblas.h>

namespace pynn {
namespace {
int narrow(idx v, const char* what) {
    if (v < 0 || v > INT_MAX) throw InputError(std::string(what) + " is too large for BLAS (> 2^31-1)");
    return static_cast<int>(v);
}
CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }
}  // namespace

template <typename T>
void gemm(bool ta, bool tb, idx M, idx N, idx K, T alpha, const T* A, idx lda, const T* B, idx ldb, T beta, T* C,
          idx ldc) {
    if (M == 0 || N == 0) return;
    const int m = narrow(M, "M"), n = narrow(N, "N"), k = narrow(K, "K");
    const int la = narrow(lda, "lda"), lb = narrow(ldb, "ldb"), lc = narrow(ldc, "ldc");
    // The same call; only the BLAS symbol differs with the precision.
    if constexpr (std::is_same_v<T, float>) {
        scipy_cblas_sgemm(CblasRowMajor, tr(ta), tr(tb), m, n, k, alpha, A, la, B, lb, beta, C, lc);
    } else {
        scipy_cblas_dgemm(CblasRowMajor, tr(ta), tr(tb), m, n, k, alpha, A, la, B, lb, beta, C, lc);
    }
}

template void gemm<float>(bool, bool, idx, idx, idx, float, const float*, idx, const float*, idx, float, float*, idx);
template void gemm<double>(bool, bool, idx, idx, idx, double, const double*, idx, const double*, idx, double, double*,
                           idx);

}  // namespace pynn
