// Losses fused with their output activation, computed from logits (never log(0)).
// Each returns the batch loss and, when grad != nullptr, writes dLoss/dlogits.
// Reduction: the mean over the batch, as torch's default 'mean' reduction:
//   softmax CE: (1/B) sum_b w_b l_b;  BCE and MSE: (1/(B*C)) sum_{b,c} w_b l_bc.
// weights (B) may be nullptr (all ones). Losses accumulate in double.
// norm_rows (default: B) is the B of the mean: a thread handling rows [r0, r1) of a batch
// passes the whole batch's row count, so the partial losses and gradients it writes sum to
// the batch's (csrc/network/region_step.cpp).
#pragma once
#include "common.h"

namespace pynn {

enum class Loss : int { softmax_cross_entropy, binary_cross_entropy, mse, none };

// logits (B,C); exactly one of labels (B, values in [0,C)) and probs (B,C) is given.
// correct, when given, gets count_correct_argmax's hits added (computed in the same row pass).
// avx512_rows: float32 rows of up to 16 classes with labels may take avx512::softmax_xent_row
// (the caller has checked the CPU runs it and the kernel switch allows it).
//   l_b = -sum_c t_bc log softmax(z_b)_c ;  dz_bc = w_b (softmax(z_b)_c * sum_c t_bc - t_bc) / B
template <typename T>
double softmax_cross_entropy(T* grad, const T* logits, const std::int32_t* labels, const T* probs,
                             const T* weights, idx B, idx C, idx norm_rows = 0, idx* correct = nullptr, bool avx512_rows = false);

// logits, targets (B,C):  l = max(z,0) - z t + log1p(exp(-|z|)) ;  dz = w_b (sigmoid(z) - t) / (B C)
template <typename T>
double binary_cross_entropy(T* grad, const T* logits, const T* targets, const T* weights, idx B, idx C,
                            idx norm_rows = 0);

// outputs, targets (B,C):  l = (y - t)^2 ;  dy = 2 w_b (y - t) / (B C)
template <typename T>
double mean_squared_error(T* grad, const T* outputs, const T* targets, const T* weights, idx B, idx C,
                          idx norm_rows = 0);

// The loss `kind` of outputs (B,C) against labels or dense targets (optional weights);
// writes dLoss/doutputs into grad when given and adds the hits to *correct when given
// (argmax for softmax CE, per element for BCE, none for MSE). Loss::none throws.
// norm_rows: the B of the mean (0: B); avx512_rows as for softmax_cross_entropy.
template <typename T>
double compute_loss(Loss kind, T* grad, const T* outputs, const std::int32_t* labels, const T* dense,
                    const T* weights, idx B, idx C, idx* correct, idx norm_rows, bool avx512_rows);

// Number of rows whose argmax matches the label (or the argmax of the probability row).
template <typename T>
idx count_correct_argmax(const T* logits, const std::int32_t* labels, const T* probs, idx B, idx C);

// Number of elements where (z > 0) == (t >= 0.5): binary accuracy from logits.
template <typename T>
idx count_correct_binary(const T* logits, const T* targets, idx B, idx C);

namespace avx512 {
// One row of softmax cross-entropy with a class label (compute_loss's row kernel; losses_avx512.cpp, AVX-512 CPUs only), C <= 16 float32 logits
// in one zmm. False (nothing written) when a logit is inf or NaN or the row does not fit:
// the caller's scalar path handles those. Else *loss = log(sum_c exp(z_c - m)) - (z_label - m)
// with m = max z (the sum in double), *argmax = the first maximum, and, when g != nullptr,
// g[c] = scale * (softmax(z)_c - [c == label]).
bool softmax_xent_row(const float* z, idx C, idx label, float scale, float* g, double* loss, idx* argmax);
}  // namespace avx512

}  // namespace pynn
