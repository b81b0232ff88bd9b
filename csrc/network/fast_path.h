// The state of a float32 Network's fast path (network.h): the dense layers' W in the AVX-512
// kernels' panel layouts (float32, and bfloat16 under "medium"), the work items of the update
// that re-packs W as it goes, and the buffers and schedule of the one-region step. A
// Network<float> holds one; a Network<double> none. Data only: the methods that fill and
// read it are Network's (fast_path.cpp, region_step.cpp, bf16_products.cpp). Uses common.h,
// aligned.h, kernels/epilogue.h and dispatch/plan.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "aligned.h"
#include "common.h"
#include "dispatch/plan.h"
#include "kernels/epilogue.h"

namespace pynn {

struct FastPath {
    // Each dense layer's W in the forward kernel's panel layout (kernels/avx512.h), rebuilt
    // from the parameters whenever they may have changed (an update, or Python writing into
    // a parameter view between calls).
    Buffer<float> packed;
    std::vector<idx> pack_off;  // per layer: offset into packed
    bool packed_ok = false;
    // A float32 epoch of one-region steps whose first layer owns panels (region_step.cpp)
    // keeps that layer's W only in `packed` (pack_off[0]) and its gradient and optimizer
    // moments in the same panel layout: dW is computed straight into it and the update
    // streams panel by panel with nothing to re-pack. train_epoch sets it up
    // (begin_packed_first) and writes the four back into the flat buffers however the
    // epoch ends (end_packed_first); in between, those rows of params/grads/moments are stale.
    bool packed_first = false;
    // The three live in one allocation, gradient | m | v, each packed_size(n_out, n_in) of
    // layer 0 (v: Adam only).
    Buffer<float> first_state;
    idx first_size = 0;  // packed_size(n_out, n_in) of layer 0
    bool first_has_v = false;
    float* first_grad() { return first_state.data(); }
    float* first_m() { return first_state.data() + first_size; }
    float* first_v() { return first_has_v ? first_state.data() + 2 * first_size : nullptr; }

    // The update that re-packs as it goes: one work item per 32-output panel of each dense W
    // plus one for all other parameters.
    std::vector<idx> flat_ranges;  // [lo, hi) pairs of parameters outside dense weights
    std::vector<std::pair<int, idx>> update_items;  // (dense layer, panel), or (-1, 0) for the rest

    // What the one-region step derives from the layers alone (reserve_region_step), with
    // grad_out sized for the workspace's rows; emptied when the workspace grows.
    std::vector<Buffer<float>> grad_out;  // per dense or PReLU layer: dLoss/d(its output), (capacity, n_out)
    std::vector<EpilogueAct> store_act;   // per layer: activation applied in a dense layer's store
    std::vector<char> act_in_store;       // per layer: 1 if its store applies the next layer (an activation)
    std::vector<size_t> dense_layers;     // dense layers, in order (update_items lists their panels so)
    // The work of the small dense layers (those that do not own panels), as items with
    // the cumulative cost after each, in a fixed order; the one-region step gives each thread the
    // items whose cost midpoint falls in its share (share_owner), so a layer too small to
    // split (a 10-output last layer) does not land on one thread on top of its half.
    struct SharedTile {
        size_t layer;
        idx o0;
        int rows;
        idx p;
        double end;
    };
    std::vector<SharedTile> shared_dw;                   // dW tiles (cost: rows x columns)
    std::vector<std::pair<idx, double>> shared_updates;  // (update item, cumulative cost): panels, the rest

    // A "medium" matmul-precision epoch (dispatch/kernel_switch.h): the one-region steps run the
    // products of every dense layer with at least kBf16MinWeights weights (dispatch/plan.h) on
    // bfloat16 operands (the forward, dW, and dX for all but the first layer) with the plan's
    // bf16 kernel, made from W after each update and from the step's inputs and output
    // gradients. float32 everywhere else (parameters, optimizer state, the small layers, the
    // loss); set and cleared by train_epoch.
    struct Bf16Operands {  // of one layer, in the layouts of kernels/avx512_bf16.h
        Buffer<std::uint32_t> w_panels;  // W as forward panels (pack_panel_bf16)
        Buffer<std::uint32_t> w_pairs;   // W's row pairs, for dX (pack_row_pairs_bf16; not layer 0)
        Buffer<std::uint32_t> x_rows;    // the input's rows, for the forward (capacity, (n_in + 1) / 2)
        Buffer<std::uint32_t> x_pairs;   // the input's row pairs, for dW ((capacity + 1) / 2, n_in)
        Buffer<std::uint32_t> dz_rows;   // dZ's rows, for dX (capacity, (n_out + 1) / 2; not layer 0)
        Buffer<std::uint32_t> dz_pairs;  // dZ's row pairs, for dW ((capacity + 1) / 2, n_out; avx512-bf16)
        Buffer<std::uint32_t> dz_cols;   // dZ^T as pairs along the batch, for dW (n_out, (B + 1) / 2; tiles)
    };
    bool bf16_epoch = false;
    Matmul bf16_kernel = Matmul::avx512_bf16;  // the epoch's bf16 kernel (plan.h)
    std::vector<Bf16Operands> bf16_operands;   // per layer (empty buffers for the others)
    bool bf16_inference = false;               // set by predict while it runs under "medium"
};

}  // namespace pynn
