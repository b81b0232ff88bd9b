#include "gemm.h"

#include <climits>

#include <cblas.h>

namespace pynn {
namespace {
int narrow(idx v, const char* what) {
    if (v < 0 || v > INT_MAX) throw InputError(std::string(what) + " is too large for BLAS (> 2^31-1)");
    return static_cast<int>(v);
}
CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }
}  // namespace

template <>
void gemm<float>(bool ta, bool tb, idx M, idx N, idx K, float alpha, const float* A, idx lda,
                 const float* B, idx ldb, float beta, float* C, idx ldc) {
    if (M == 0 || N == 0) return;
    scipy_cblas_sgemm(CblasRowMajor, tr(ta), tr(tb), narrow(M, "M"), narrow(N, "N"), narrow(K, "K"),
                      alpha, A, narrow(lda, "lda"), B, narrow(ldb, "ldb"), beta, C, narrow(ldc, "ldc"));
}

template <>
void gemm<double>(bool ta, bool tb, idx M, idx N, idx K, double alpha, const double* A, idx lda,
                  const double* B, idx ldb, double beta, double* C, idx ldc) {
    if (M == 0 || N == 0) return;
    scipy_cblas_dgemm(CblasRowMajor, tr(ta), tr(tb), narrow(M, "M"), narrow(N, "N"), narrow(K, "K"),
                      alpha, A, narrow(lda, "lda"), B, narrow(ldb, "ldb"), beta, C, narrow(ldc, "ldc"));
}

}  // namespace pynn
