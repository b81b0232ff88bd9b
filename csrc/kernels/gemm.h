// GEMM through OpenBLAS (the vendored scipy-openblas32, prefixed CBLAS symbols).
// Row-major everywhere: C (M,N) = alpha * op(A) op(B) + beta * C.
#pragma once
#include "common.h"

namespace pynn {

template <typename T>
void gemm(bool trans_a, bool trans_b, idx M, idx N, idx K, T alpha, const T* A, idx lda,
          const T* B, idx ldb, T beta, T* C, idx ldc);

}  // namespace pynn
