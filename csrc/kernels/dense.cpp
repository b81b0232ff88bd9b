// The dense layer over BLAS GEMM (dense.h): the portable path of every dtype. Uses kernels/gemm.h.
#include "kernels/dense.h"

#include "kernels/gemm.h"

namespace pynn {

template <typename T>
void dense_forward(T* Y, const T* X, const T* W, const T* b, idx B, idx I, idx O) {
    gemm<T>(false, true, B, O, I, T(1), X, I, W, I, T(0), Y, O);
    if (!b) return;
#pragma omp parallel for if (B * O > kParallelGrain) num_threads(current_threads())
    for (idx r = 0; r < B; ++r) {
        T* y = Y + r * O;
#pragma omp simd
        for (idx o = 0; o < O; ++o) y[o] += b[o];
    }
}

template <typename T>
void dense_backward(T* dX, T* dW, T* db, const T* dY, const T* X, const T* W, idx B, idx I, idx O) {
    gemm<T>(true, false, O, I, B, T(1), dY, O, X, I, T(0), dW, I);
    if (db) {
        for (idx o = 0; o < O; ++o) db[o] = T(0);
        for (idx r = 0; r < B; ++r) {
            const T* d = dY + r * O;
#pragma omp simd
            for (idx o = 0; o < O; ++o) db[o] += d[o];
        }
    }
    if (dX) gemm<T>(false, false, B, I, O, T(1), dY, O, W, I, T(0), dX, I);
}

template void dense_forward<float>(float*, const float*, const float*, const float*, idx, idx, idx);
template void dense_forward<double>(double*, const double*, const double*, const double*, idx, idx, idx);
template void dense_backward<float>(float*, float*, float*, const float*, const float*, const float*, idx, idx, idx);
template void dense_backward<double>(double*, double*, double*, const double*, const double*, const double*, idx, idx, idx);

}  // namespace pynn
