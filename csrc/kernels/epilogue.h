// What a GEMM kernel's store does besides storing: the epilogue shared by the AVX-512
// kernels (avx512_gemm.cpp, avx512_bf16.cpp) and the tile kernels (tile_bf16.cpp), which
// apply the same operations in the same order so that their outputs agree bit for bit.
// Uses common.h only.
#pragma once
#include "common.h"

namespace pynn {

// Activations a dense layer's store can apply (those whose derivative needs only the sign
// of the output): y = z, max(z, 0), z > 0 ? z : alpha z with alpha >= 0.
enum class EpilogueAct : int { identity, relu, leaky_relu };

enum class EpilogueKind : int {
    store,     // C = the product
    bias_act,  // C = act(product + bias): a forward
    act_grad,  // C = product * act'(y_prev): dX with the activation in front folded in
};

struct Epilogue {
    EpilogueKind kind = EpilogueKind::store;
    EpilogueAct act = EpilogueAct::identity;
    float alpha = 0.0f;
    const float* bias = nullptr;    // bias_act: bias of the block's first column, or nullptr
    const float* y_prev = nullptr;  // act_grad: activation output at the block's (0, 0)
    idx ld_prev = 0;                // act_grad: y_prev's row stride
    // store (AVX-512 kernels): set when a stored value is inf or NaN, else untouched. The
    // tile kernels return that flag from their store instead.
    bool* nonfinite = nullptr;

    static Epilogue bias_activation(const float* bias, EpilogueAct act, float alpha) {
        Epilogue e;
        e.kind = EpilogueKind::bias_act;
        e.act = act;
        e.alpha = alpha;
        e.bias = bias;
        return e;
    }
    static Epilogue activation_gradient(const float* y_prev, idx ld_prev, EpilogueAct act, float alpha) {
        Epilogue e;
        e.kind = EpilogueKind::act_grad;
        e.act = act;
        e.alpha = alpha;
        e.y_prev = y_prev;
        e.ld_prev = ld_prev;
        return e;
    }
};

}  // namespace pynn
