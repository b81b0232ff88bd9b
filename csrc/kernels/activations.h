// Elementwise activations, each with its exact derivative; softmax over rows (PReLU:
// prelu.h). Kinks follow PyTorch: ReLU'(0) = 0; LeakyReLU and ELU branch on x > 0.
#pragma once
#include "common.h"

namespace pynn {

enum class Act : int { identity, sigmoid, tanh, relu, leaky_relu, elu, gelu, silu, softplus };

// y (n) = f(x (n)); alpha is LeakyReLU's negative slope or ELU's alpha. y may alias x.
// avx512: the caller's dispatch says the AVX-512 kernels may run; then float32 sigmoid,
// tanh, SiLU, GELU, softplus, ELU and LeakyReLU take avx512::activation_forward_rows
// (sigmoid and tanh within 2.5 ulp, GELU within 12, softplus within 2, ELU within 1: not
// libm's bits; LeakyReLU's are the portable loop's).
template <typename T>
void activation_forward(T* y, const T* x, idx n, Act act, T alpha, bool avx512 = false);

// dx (n) = dy (n) * f'(x); x is the input, y the output of the forward pass (some
// derivatives are cheaper from y). Overwrites dx; dx may alias dy. avx512: as for the
// forward, and with the forward's value (no default: a step must not pair the vector
// forward with libm's backward); float32 SiLU, GELU, softplus, ELU and LeakyReLU then take
// avx512::activation_backward_rows (ELU's and LeakyReLU's with the portable loop's bits).
template <typename T>
void activation_backward(T* dx, const T* dy, const T* x, const T* y, idx n, Act act, T alpha, bool avx512);

namespace avx512 {
// y (n) = f(x (n)) for f = sigmoid, tanh, SiLU, GELU, softplus, ELU or LeakyReLU (alpha:
// ELU's or LeakyReLU's) in float32 (activations_avx512.cpp, AVX-512 CPUs only); false
// (nothing written) for the other activations, and everywhere in a build without the
// kernels: n = 0 asks which. y may alias x.
bool activation_forward_rows(float* y, const float* x, idx n, Act act, float alpha);
// dx (n) = dy (n) * f'(x (n)) for f = SiLU, GELU, softplus, ELU or LeakyReLU in float32
// (y (n): the forward's output, which ELU's derivative is computed from; alpha: ELU's or
// LeakyReLU's); false (nothing written) for the others, as the forward. dx may alias dy.
bool activation_backward_rows(float* dx, const float* dy, const float* x, const float* y, idx n, Act act,
                              float alpha);
}  // namespace avx512

// y (R,C) = softmax of each row of x (R,C): exp(x - max) / sum, in T. y may not alias x.
// C == 0 leaves y (empty) untouched.
template <typename T>
void softmax_rows_forward(T* y, const T* x, idx R, idx C);

}  // namespace pynn
