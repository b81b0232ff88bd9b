// The float32 fast path of a Network (network.h): the methods that make and keep its state
// (a FastPath, fast_path.h): the dense layers' W in the AVX-512 kernels' panel layouts
// (float32, and bf16 under "medium"), the work items of the update that re-packs W as it
// goes, and the schedule of the one-region step (region_step.cpp). Uses dispatch/ and kernels/.
#include <algorithm>
#include <string>
#include <type_traits>

#include "dispatch/kernel_switch.h"
#include "kernels/avx512.h"
#include "kernels/avx512_bf16.h"
#include "network/allocation.h"
#include "network/network.h"

namespace pynn {

bool store_activation(const LayerSpec& s, EpilogueAct* act) {
    if (s.kind != LayerKind::activation) return false;
    switch (s.act) {
        case Act::identity: *act = EpilogueAct::identity; return true;
        case Act::relu: *act = EpilogueAct::relu; return true;
        case Act::leaky_relu:
            if (!(s.alpha >= 0.0)) return false;  // a negative slope flips the sign: not a store activation
            *act = EpilogueAct::leaky_relu;
            return true;
        default: return false;
    }
}

template <typename T>
void Network<T>::reserve_region_step() {
    FastPath& fast = *fast_path_;
    if (fast.grad_out.size() == layers_.size()) return;
    const size_t L = layers_.size();
    fast.grad_out.assign(L, {});
    const std::string what = "the workspace for a batch of " + std::to_string(capacity_) + " rows (lower batch_size)";
    fast.store_act.assign(L, EpilogueAct::identity);
    fast.act_in_store.assign(L, 0);
    fast.dense_layers.clear();
    for (size_t l = 0; l < L; ++l) {
        const auto& s = layers_[l];
        if (keeps_output_gradient(s)) assign_zeros(fast.grad_out[l], capacity_ * s.n_out, what);
        if (s.kind != LayerKind::dense) continue;
        fast.dense_layers.push_back(l);
        // A dense layer followed by a store activation writes the activation's output
        // directly, as forward() does.
        fast.act_in_store[l] = l + 1 < L && store_activation(layers_[l + 1], &fast.store_act[l]);
    }
    // The small layers' dW tiles and update items (the order of update_item_count()).
    fast.shared_dw.clear();
    fast.shared_updates.clear();
    double dw_cost = 0.0, update_cost = 0.0;
    idx item = 0, dense_weights = 0;
    for (size_t l : fast.dense_layers) {
        const auto& s = layers_[l];
        const idx npan_out = avx512::panel_count(s.n_out);
        dense_weights += s.n_in * s.n_out;
        if (!owns_panels(s)) {
            for (idx i = 0; i < avx512::row_block_count(s.n_out); ++i) {
                idx o0;
                int rows;
                avx512::row_block(s.n_out, i, &o0, &rows);
                for (idx p = 0; p < avx512::panel_count(s.n_in); ++p) {
                    dw_cost += static_cast<double>(rows) * static_cast<double>(std::min(avx512::kPanel, s.n_in - p * avx512::kPanel));
                    fast.shared_dw.push_back({l, o0, rows, p, dw_cost});
                }
            }
            for (idx q = 0; q < npan_out; ++q) {
                update_cost += static_cast<double>(std::min(avx512::kPanel, s.n_out - q * avx512::kPanel) * s.n_in);
                fast.shared_updates.emplace_back(item + q, update_cost);
            }
        }
        item += npan_out;
    }
    update_cost += static_cast<double>(n_params() - dense_weights);  // biases, PReLU slopes
    fast.shared_updates.emplace_back(item, update_cost);
}

template <typename T>
void Network<T>::size_bf16_operands(size_t l, bool training) {
    FastPath& fast = *fast_path_;
    const auto& s = layers_[l];
    FastPath::Bf16Operands& o = fast.bf16_operands[l];
    const idx I2 = (s.n_in + 1) / 2, O2 = (s.n_out + 1) / 2, pairs = (capacity_ + 1) / 2;
    const std::string what = "the bfloat16 operands of layer " + std::to_string(l);
    auto size = [&](Buffer<std::uint32_t>& b, idx n) {
        if (static_cast<idx>(b.size()) != n) assign_zeros(b, n, what);
    };
    size(o.w_panels, avx512::panel_count(s.n_out) * avx512::kPanel * I2);
    size(o.x_rows, capacity_ * I2);
    if (!training) return;
    size(o.x_pairs, pairs * s.n_in);
    // dW's dZ operand: row pairs for vdpbf16ps, pairs along the batch (K of an A tile) for tiles.
    size(is_tile(fast.bf16_kernel) ? o.dz_cols : o.dz_pairs, pairs * s.n_out);
    if (l > 0) {  // the first layer computes no dX
        size(o.w_pairs, O2 * s.n_in);
        size(o.dz_rows, capacity_ * O2);
    }
}

template <typename T>
bool Network<T>::begin_bf16(bool training) {
    const Matmul kernel = medium_bf16_kernel();
    if (!is_bf16(kernel)) return false;
    FastPath& fast = *fast_path_;
    fast.bf16_kernel = kernel;
    fast.bf16_operands.resize(layers_.size());
    bool any = false;
    for (size_t l = 0; l < layers_.size(); ++l) {
        if (!bf16_layer(layers_[l])) continue;
        any = true;
        size_bf16_operands(l, training);
        // W as Python left it; within an epoch each update re-packs what it changed.
        for (idx q = 0; q < avx512::panel_count(layers_[l].n_out); ++q) pack_bf16_panel(l, q, training);
    }
    return any;
}

template <typename T>
void Network<T>::pack_bf16_panel(size_t l, idx q, bool training) {
    if constexpr (std::is_same_v<T, float>) {
        const auto& s = layers_[l];
        FastPath::Bf16Operands& o = fast_path_->bf16_operands[l];
        const float* W = params_.data() + s.w_off;
        avx512::pack_panel_bf16(o.w_panels.data(), W, s.n_out, s.n_in, q);
        if (training && l > 0) avx512::pack_row_pairs_bf16(o.w_pairs.data(), W, s.n_out, s.n_in, q);
    }
}

template <typename T>
void Network<T>::pack_layout() {
    FastPath& fast = *fast_path_;
    if (fast.pack_off.size() == layers_.size()) return;
    fast.pack_off.assign(layers_.size(), 0);
    fast.flat_ranges.clear();
    idx total = 0, covered = 0;  // parameters [covered, w_off) are not dense weights
    for (size_t l = 0; l < layers_.size(); ++l)
        if (layers_[l].kind == LayerKind::dense) {
            fast.pack_off[l] = total;
            total += avx512::packed_size(layers_[l].n_out, layers_[l].n_in);
            fast.flat_ranges.push_back(covered);
            fast.flat_ranges.push_back(layers_[l].w_off);
            covered = layers_[l].w_off + layers_[l].n_out * layers_[l].n_in;
        }
    fast.flat_ranges.push_back(covered);
    fast.flat_ranges.push_back(n_params());
    fast.packed.assign(static_cast<size_t>(total), T(0));
}

template <typename T>
idx Network<T>::update_item_count() {
    FastPath& fast = *fast_path_;
    pack_layout();
    if (fast.update_items.empty()) {
        for (size_t l = 0; l < layers_.size(); ++l)
            if (layers_[l].kind == LayerKind::dense)
                for (idx q = 0; q < avx512::panel_count(layers_[l].n_out); ++q)
                    fast.update_items.emplace_back(static_cast<int>(l), q);
        fast.update_items.emplace_back(-1, 0);  // biases, PReLU slopes: small, one item
    }
    return static_cast<idx>(fast.update_items.size());
}

template <typename T>
void Network<T>::update_item(idx t, const OptimizerConfig& opt, const AdamCoefficients<float>& adam) {
    if constexpr (std::is_same_v<T, float>) {
        FastPath& fast = *fast_path_;
        float *p = params_.data(), *m = first_moment_.data(), *v = second_moment_.data();
        const float* g = grads_.data();
        const int l = fast.update_items[static_cast<size_t>(t)].first;
        const idx n_ranges = static_cast<idx>(fast.flat_ranges.size() / 2);
        if (l < 0) {
            if (opt.kind == OptKind::sgd) {
                for (idx r = 0; r < n_ranges; ++r) {
                    const idx lo = fast.flat_ranges[2 * r], hi = fast.flat_ranges[2 * r + 1];
                    if (hi > lo) sgd_update(p + lo, g + lo, m + lo, hi - lo, opt, opt_step);
                }
            } else {
                adam_update_ranges(p, g, m, v, fast.flat_ranges.data(), n_ranges, adam);
            }
            return;
        }
        const auto& s = layers_[static_cast<size_t>(l)];
        const idx q = fast.update_items[static_cast<size_t>(t)].second;
        float* packed = fast.packed.data() + fast.pack_off[static_cast<size_t>(l)];
        // Panel q's rows of W, its gradient and moments: one contiguous block of each, (rows,
        // I) row-major. A first layer kept packed (FastPath::packed_first) has them in the
        // panel layout, where panel q is the block [32 q I, 32 (q + 1) I) of each packed array
        // (the zero padding of a last panel stays 0: g = 0 moves neither a moment nor a
        // weight that is 0), and nothing to re-pack after.
        const bool kept_packed = l == 0 && fast.packed_first;
        float* w = kept_packed ? packed : p + s.w_off;
        const float* gw = kept_packed ? fast.first_grad() : g + s.w_off;
        float* mw = kept_packed ? fast.first_m() : m + s.w_off;
        const idx rows = kept_packed ? avx512::panel_count(s.n_out) * avx512::kPanel : s.n_out;
        if (opt.kind == OptKind::sgd) {
            const idx lo = avx512::kPanel * q * s.n_in;
            const idx n = std::min(avx512::kPanel, rows - avx512::kPanel * q) * s.n_in;
            sgd_update(w + lo, gw + lo, mw + lo, n, opt, opt_step);
        } else {
            avx512::adam_panel_rows(w, gw, mw, kept_packed ? fast.first_v() : v + s.w_off, rows, s.n_in, q, adam);
        }
        if (kept_packed) return;
        // A bf16 epoch's bf16 layers are read only in bf16 until the epoch ends.
        if (fast.bf16_epoch && bf16_layer(s)) {
            pack_bf16_panel(static_cast<size_t>(l), q);
        } else {
            avx512::pack_panel(packed, p + s.w_off, s.n_out, s.n_in, q);
        }
    }
}

template <typename T>
bool Network<T>::begin_packed_first(const OptimizerConfig& opt) {
    if constexpr (std::is_same_v<T, float>) {
        FastPath& fast = *fast_path_;
        if (fast.bf16_epoch || !region_step_eligible() || !owns_panels(layers_[0])) return false;
        const auto& s = layers_[0];
        match_optimizer_state(opt);  // before packing the moments: a new optimizer starts them at 0
        Buffer<float>* moments[2] = {&first_moment(), opt.kind == OptKind::sgd ? nullptr : &second_moment()};
        pack_weights();
        const idx n = avx512::packed_size(s.n_out, s.n_in), npan = avx512::panel_count(s.n_out);
        // SGD: no second moment to write back. The gradient starts at 0 (the whole buffer
        // is zeroed; a moment's panels are then all written below).
        fast.first_has_v = moments[1] != nullptr;
        fast.first_size = n;
        assign_zeros(fast.first_state, checked_add_mul(0, fast.first_has_v ? 3 : 2, n, "the first layer's packed state"),
                     "the first layer's packed gradient and moments");
        float* packed[2] = {fast.first_m(), fast.first_v()};
        for (int i = 0; i < 2; ++i) {
            if (!moments[i]) continue;
            float* dst = packed[i];
            const float* src = moments[i]->data() + s.w_off;
#pragma omp parallel for schedule(static) num_threads(current_threads())
            for (idx q = 0; q < npan; ++q) avx512::pack_panel(dst, src, s.n_out, s.n_in, q);
        }
        fast.packed_first = true;
        return true;
    }
    return false;
}

template <typename T>
void Network<T>::end_packed_first() {
    if constexpr (std::is_same_v<T, float>) {
        FastPath& fast = *fast_path_;
        if (!fast.packed_first) return;
        fast.packed_first = false;
        const auto& s = layers_[0];
        const idx npan = avx512::panel_count(s.n_out);
        // W, the last step's gradient, and the moments begin_packed_first packed (v: Adam
        // only), back into the rows of the flat buffers (packed stays valid: it is W).
        struct Pair {
            T* rows;
            const float* panels;
        } pairs[4] = {{params_.data() + s.w_off, fast.packed.data() + fast.pack_off[0]},
                      {grads_.data() + s.w_off, fast.first_grad()},
                      {first_moment_.data() + s.w_off, fast.first_m()},
                      {fast.first_has_v ? second_moment_.data() + s.w_off : nullptr, fast.first_v()}};
        for (const Pair& pr : pairs) {
            if (!pr.rows) continue;
#pragma omp parallel for schedule(static) num_threads(current_threads())
            for (idx q = 0; q < npan; ++q) avx512::unpack_panel(pr.rows, pr.panels, s.n_out, s.n_in, q);
        }
    }
}

template <typename T>
bool Network<T>::update_and_repack(const OptimizerConfig& opt) {
    if constexpr (std::is_same_v<T, float>) {
        if (!use_avx512()) return false;
        const idx n_items = update_item_count();
        first_moment();
        if (opt.kind != OptKind::sgd) second_moment();
        const AdamCoefficients<float> a = adam_coefficients(opt, opt_step).as<float>();
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_params() > kParallelGrain ? current_threads() : 1)
        for (idx t = 0; t < n_items; ++t) update_item(t, opt, a);
        fast_path_->packed_ok = true;
        return true;
    }
    return false;
}

template <typename T>
void Network<T>::pack_weights() {
    if constexpr (std::is_same_v<T, float>) {
        FastPath& fast = *fast_path_;
        pack_layout();
        for (size_t l = 0; l < layers_.size(); ++l) {
            const auto& s = layers_[l];
            if (s.kind == LayerKind::dense)
                avx512::pack_weights(fast.packed.data() + fast.pack_off[l], params_.data() + s.w_off, s.n_out, s.n_in);
        }
        fast.packed_ok = true;
    }
}

template <typename T>
void Network<T>::dense_forward_bf16(size_t l, T* Y, const T* X, idx B, EpilogueAct act, float alpha) {
    if constexpr (std::is_same_v<T, float>) {
        const auto& s = layers_[l];
        FastPath::Bf16Operands& o = fast_path_->bf16_operands[l];
        const idx I2 = (s.n_in + 1) / 2;
        std::uint32_t* xb = o.x_rows.data();
#pragma omp parallel for if (B * s.n_in > kParallelGrain) num_threads(current_threads())
        for (idx r = 0; r < B; ++r) avx512::row_to_bf16(xb + r * I2, X + r * s.n_in, s.n_in);
        bf16_forward_rows(l, Y, s.use_bias ? params_.data() + s.b_off : nullptr, act, alpha, 0, B);
    }
}

#define PYNN_INSTANTIATE(T)                                                                        \
    template void Network<T>::reserve_region_step();                                                     \
    template void Network<T>::size_bf16_operands(size_t, bool);                                   \
    template bool Network<T>::begin_bf16(bool);                                                    \
    template void Network<T>::pack_bf16_panel(size_t, idx, bool);                                        \
    template void Network<T>::pack_layout();                                                       \
    template idx Network<T>::update_item_count();                                                  \
    template void Network<T>::update_item(idx, const OptimizerConfig&, const AdamCoefficients<float>&);    \
    template bool Network<T>::update_and_repack(const OptimizerConfig&);                                \
    template bool Network<T>::begin_packed_first(const OptimizerConfig&);                                \
    template void Network<T>::end_packed_first();                                                       \
    template void Network<T>::pack_weights();                                                      \
    template void Network<T>::dense_forward_bf16(size_t, T*, const T*, idx, EpilogueAct, float);
PYNN_INSTANTIATE(float)
PYNN_INSTANTIATE(double)
#undef PYNN_INSTANTIATE

}  // namespace pynn
