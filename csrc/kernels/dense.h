// The fully connected layer, h = X W^T + b (rows are samples, W as torch.nn.Linear).
#pragma once
#include "common.h"

namespace pynn {

// X (B,I), W (O,I), b (O) or nullptr  ->  Y (B,O) overwritten.
template <typename T>
void dense_forward(T* Y, const T* X, const T* W, const T* b, idx B, idx I, idx O);

// dY (B,O), X (B,I), W (O,I)  ->  dW (O,I) = dY^T X, db (O) = column sums of dY,
// dX (B,I) = dY W. All three overwritten; dX and db may be nullptr (not wanted).
template <typename T>
void dense_backward(T* dX, T* dW, T* db, const T* dY, const T* X, const T* W, idx B, idx I, idx O);

}  // namespace pynn
