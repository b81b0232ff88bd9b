// PReLU, the activation with a learnable slope, forward and backward (kernels/prelu.cpp).
// Its kink follows PyTorch: it branches on x > 0. Uses common.h only.
#pragma once
#include "common.h"

namespace pynn {

// PReLU with a learnable slope: x, y (B,C); slope (K) with K == 1 (shared) or K == C.
template <typename T>
void prelu_forward(T* y, const T* x, const T* slope, idx B, idx C, idx K);

// dx (B,C) overwritten; dslope (K) overwritten with sum of dy*x where x <= 0. dx may alias dy.
// = prelu_slope_gradient, then prelu_backward_dx.
template <typename T>
void prelu_backward(T* dx, T* dslope, const T* dy, const T* x, const T* slope, idx B, idx C, idx K);

// dx (B,C) = dy where x > 0, slope * dy elsewhere (the one-region step: a thread's rows).
template <typename T>
void prelu_backward_dx(T* dx, const T* dy, const T* x, const T* slope, idx B, idx C, idx K);

// dslope (K) = the sum over rows, in row order and in double, of dy*x where x <= 0, per
// column (K == C), or those column sums added in column order (K == 1): the same bits for
// any thread count (the threads split the columns).
template <typename T>
void prelu_slope_gradient(T* dslope, const T* dy, const T* x, idx B, idx C, idx K);

}  // namespace pynn
