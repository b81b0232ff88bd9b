#include "network/network.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <type_traits>

#include "kernels/dense.h"
#include "kernels/dropout.h"
#include "dispatch/kernel_switch.h"
#include "kernels/avx512.h"
#include "kernels/avx512_bf16.h"

namespace pynn {
namespace {
// Inference runs in chunks of rows so the workspace stays small for any N.
constexpr idx kPredictChunk = 4096;

}  // namespace

bool fusable_activation(const LayerSpec& s, EpilogueAct* act) {
    if (s.kind != LayerKind::activation) return false;
    switch (s.act) {
        case Act::identity: *act = EpilogueAct::identity; return true;
        case Act::relu: *act = EpilogueAct::relu; return true;
        case Act::leaky_relu:
            if (!(s.alpha >= 0.0)) return false;  // a negative slope flips the sign: not fusable
            *act = EpilogueAct::leaky_relu;
            return true;
        default: return false;
    }
}

template <typename T>
Network<T>::Network(idx n_inputs, std::uint64_t seed_) : seed(seed_), n_inputs_(n_inputs) {
    if (n_inputs < 1) throw InputError("n_inputs must be >= 1");
}

template <typename T>
void Network<T>::add_dense(idx n_out, bool use_bias) {
    if (finalized_) throw InputError("cannot add layers to a finalized network");
    if (n_out < 1) throw InputError("Dense n_out must be >= 1");
    LayerSpec s{LayerKind::dense};
    s.n_in = n_outputs();
    s.n_out = n_out;
    s.use_bias = use_bias;
    layers_.push_back(s);
}

template <typename T>
void Network<T>::add_activation(Act act, double alpha) {
    if (finalized_) throw InputError("cannot add layers to a finalized network");
    LayerSpec s{LayerKind::activation};
    s.n_in = s.n_out = n_outputs();
    s.act = act;
    s.alpha = alpha;
    layers_.push_back(s);
}

template <typename T>
void Network<T>::add_prelu(idx k) {
    if (finalized_) throw InputError("cannot add layers to a finalized network");
    LayerSpec s{LayerKind::prelu};
    s.n_in = s.n_out = n_outputs();
    if (k != 1 && k != s.n_out) throw InputError("PReLU num_parameters must be 1 or the layer width");
    s.k = k;
    layers_.push_back(s);
}

template <typename T>
void Network<T>::add_dropout(double p) {
    if (finalized_) throw InputError("cannot add layers to a finalized network");
    if (!(p >= 0.0 && p < 1.0)) throw InputError("Dropout p must be in [0, 1)");
    LayerSpec s{LayerKind::dropout};
    s.n_in = s.n_out = n_outputs();
    s.p = p;
    layers_.push_back(s);
}

namespace {
// a + b * c for sizes, or AllocationError when it overflows int64 (signed overflow
// would be undefined behaviour and, in practice, a negative size).
idx checked_add_mul(idx a, idx b, idx c, const char* what) {
    idx prod, sum;
    if (__builtin_mul_overflow(b, c, &prod) || __builtin_add_overflow(a, prod, &sum))
        throw AllocationError(std::string(what) + " overflows a 64-bit size; the network is too large to allocate");
    return sum;
}

// Bytes this process can still fill without the kernel's OOM killer stepping in: Linux
// overcommits, so a too-large std::vector is not always a bad_alloc -- its zero fill can
// get the whole process killed instead. Best effort: MemAvailable, lowered by a cgroup v2
// limit when there is one; "unknown" (max) elsewhere.
double available_bytes() {
    double avail = std::numeric_limits<double>::infinity();
    if (std::FILE* f = std::fopen("/proc/meminfo", "r")) {
        char line[256];
        unsigned long long kb;
        while (std::fgets(line, sizeof line, f))
            if (std::sscanf(line, "MemAvailable: %llu kB", &kb) == 1) avail = 1024.0 * static_cast<double>(kb);
        std::fclose(f);
    }
    unsigned long long limit = 0, used = 0;
    std::FILE* fmax = std::fopen("/sys/fs/cgroup/memory.max", "r");  // "max" when unlimited
    std::FILE* fcur = std::fopen("/sys/fs/cgroup/memory.current", "r");
    if (fmax && fcur && std::fscanf(fmax, "%llu", &limit) == 1 && std::fscanf(fcur, "%llu", &used) == 1)
        avail = std::min(avail, limit > used ? static_cast<double>(limit - used) : 0.0);
    if (fmax) std::fclose(fmax);
    if (fcur) std::fclose(fcur);
    return avail;
}

// v = n zeros, or AllocationError naming what did not fit and how large it was.
template <typename T>
void assign_zeros(Buffer<T>& v, idx n, const std::string& what) {
    const double bytes = static_cast<double>(n) * sizeof(T);
    auto fail = [&](const char* why) {
        char gib[32];
        std::snprintf(gib, sizeof gib, "%.3g", bytes / 1073741824.0);
        throw AllocationError(what + " needs " + std::to_string(n) + " values (" + gib + " GiB), " + why);
    };
    if (static_cast<std::uint64_t>(n) > v.max_size()) fail("more than can be allocated");
    constexpr double kCheckAbove = 64.0 * 1024 * 1024;  // small buffers: not worth reading /proc
    if (bytes > kCheckAbove && bytes > static_cast<double>(v.capacity()) * sizeof(T) &&
        bytes > available_bytes())
        fail("more than the memory available");
    try {
        v.assign(static_cast<size_t>(n), T(0));
    } catch (const std::bad_alloc&) {
        fail("which could not be allocated");
    }
}
}  // namespace

template <typename T>
void Network<T>::finalize() {
    if (finalized_) return;
    idx off = 0;
    for (auto& s : layers_) {
        if (s.kind == LayerKind::dense) {
            s.w_off = off;
            off = checked_add_mul(off, s.n_out, s.n_in, "the parameter count");
            s.b_off = off;
            if (s.use_bias) off = checked_add_mul(off, s.n_out, 1, "the parameter count");
        } else if (s.kind == LayerKind::prelu) {
            s.slope_off = off;
            off = checked_add_mul(off, s.k, 1, "the parameter count");
        }
    }
    // Parameters and gradients are allocated together: check both fit before filling either.
    const double both = 2.0 * static_cast<double>(off) * sizeof(T);
    if (both > 64.0 * 1024 * 1024 && both > available_bytes())
        throw AllocationError("the network has " + std::to_string(off) + " parameters; their values and gradients need " +
                              std::to_string(static_cast<long long>(both / 1073741824.0)) +
                              " GiB, more than the memory available");
    assign_zeros(params_, off, "the parameter buffer");
    assign_zeros(grads_, off + kReduceTail, "the gradient buffer");  // the tail: reduce_step's flags
    outs_.assign(layers_.size(), nullptr);
    finalized_ = true;
}

template <typename T>
void Network<T>::reserve(idx B) {
    if (!finalized_) throw InputError("network is not finalized");
    // An empty batch would leave the workspace unallocated (and the mean loss 0/0).
    if (B < 1) throw InputError("X must have at least one row");
    if (B <= capacity_) return;
    widest_ = n_inputs_;
    acts_.resize(layers_.size());
    masks_.resize(layers_.size());
    // B and the widths are < 2^31 (checked in Python and by BLAS), so B * width fits int64.
    const std::string what = "the workspace for a batch of " + std::to_string(B) + " rows (lower batch_size)";
    for (size_t l = 0; l < layers_.size(); ++l) {
        const auto& s = layers_[l];
        widest_ = std::max(widest_, s.n_out);
        assign_zeros(acts_[l], B * s.n_out, what);
        if (s.kind == LayerKind::dropout) assign_zeros(masks_[l], B * s.n_out, what);
    }
    grad_out_.clear();  // the fused step's buffers, sized on its first use (fused_train_step)
    assign_zeros(d0_, B * widest_, what);
    assign_zeros(d1_, B * widest_, what);
    assign_zeros(batch_x_, B * n_inputs_, what);
    assign_zeros(batch_dense_, B * n_outputs(), what);
    batch_w_.assign(static_cast<size_t>(B), T(0));
    batch_labels_.assign(static_cast<size_t>(B), 0);
    capacity_ = B;
}

template <typename T>
void Network<T>::reserve_fused() {
    if (grad_out_.size() == layers_.size()) return;
    const size_t L = layers_.size();
    grad_out_.assign(L, {});
    const std::string what = "the workspace for a batch of " + std::to_string(capacity_) + " rows (lower batch_size)";
    fuse_act_.assign(L, EpilogueAct::identity);
    fused_.assign(L, 0);
    dense_layers_.clear();
    for (size_t l = 0; l < L; ++l) {
        const auto& s = layers_[l];
        if (s.kind != LayerKind::dense) continue;
        assign_zeros(grad_out_[l], capacity_ * s.n_out, what);
        dense_layers_.push_back(l);
        // A dense layer followed by a fusable activation writes the activation's output
        // directly, as forward() does.
        fused_[l] = l + 1 < L && fusable_activation(layers_[l + 1], &fuse_act_[l]);
    }
    // The small layers' dW tiles and update items (the order of update_item_count()).
    shared_dw_.clear();
    shared_updates_.clear();
    double dw_cost = 0.0, update_cost = 0.0;
    idx item = 0, dense_weights = 0;
    for (size_t l : dense_layers_) {
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
                    shared_dw_.push_back({l, o0, rows, p, dw_cost});
                }
            }
            for (idx q = 0; q < npan_out; ++q) {
                update_cost += static_cast<double>(std::min(avx512::kPanel, s.n_out - q * avx512::kPanel) * s.n_in);
                shared_updates_.emplace_back(item + q, update_cost);
            }
        }
        item += npan_out;
    }
    update_cost += static_cast<double>(n_params() - dense_weights);  // biases, PReLU slopes
    shared_updates_.emplace_back(item, update_cost);
}

template <typename T>
void Network<T>::size_bf16_operands(size_t l, bool training) {
    const auto& s = layers_[l];
    Bf16Operands& o = bf16_[l];
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
    size(is_tile(bf16_kernel_) ? o.dz_cols : o.dz_pairs, pairs * s.n_out);
    if (l > 0) {  // the first layer computes no dX
        size(o.w_pairs, O2 * s.n_in);
        size(o.dz_rows, capacity_ * O2);
    }
}

template <typename T>
bool Network<T>::begin_bf16_epoch() {
    bf16_.resize(layers_.size());
    bool any = false;
    for (size_t l = 0; l < layers_.size(); ++l) {
        if (!bf16_layer(layers_[l])) continue;
        any = true;
        size_bf16_operands(l, true);
        // W as Python left it; within the epoch each update re-packs what it changed.
        for (idx q = 0; q < avx512::panel_count(layers_[l].n_out); ++q) pack_bf16_panel(l, q);
    }
    return any;
}

template <typename T>
bool Network<T>::begin_bf16_inference() {
    const Matmul kernel = medium_bf16_kernel();
    if (!is_bf16(kernel)) return false;
    bf16_kernel_ = kernel;
    bf16_.resize(layers_.size());
    bool any = false;
    for (size_t l = 0; l < layers_.size(); ++l) {
        const auto& s = layers_[l];
        if (!bf16_layer(s)) continue;
        any = true;
        size_bf16_operands(l, false);
        if constexpr (std::is_same_v<T, float>)
            for (idx q = 0; q < avx512::panel_count(s.n_out); ++q)
                avx512::pack_panel_bf16(bf16_[l].w_panels.data(), params_.data() + s.w_off, s.n_out, s.n_in, q);
    }
    return any;
}

template <typename T>
void Network<T>::pack_bf16_panel(size_t l, idx q) {
    if constexpr (std::is_same_v<T, float>) {
        const auto& s = layers_[l];
        Bf16Operands& o = bf16_[l];
        const float* W = params_.data() + s.w_off;
        avx512::pack_panel_bf16(o.w_panels.data(), W, s.n_out, s.n_in, q);
        if (l > 0) avx512::pack_row_pairs_bf16(o.w_pairs.data(), W, s.n_out, s.n_in, q);
    }
}

template <typename T>
void Network<T>::pack_layout() {
    if (pack_off_.size() == layers_.size()) return;
    pack_off_.assign(layers_.size(), 0);
    flat_ranges_.clear();
    idx total = 0, covered = 0;  // parameters [covered, w_off) are not dense weights
    for (size_t l = 0; l < layers_.size(); ++l)
        if (layers_[l].kind == LayerKind::dense) {
            pack_off_[l] = total;
            total += avx512::packed_size(layers_[l].n_out, layers_[l].n_in);
            flat_ranges_.push_back(covered);
            flat_ranges_.push_back(layers_[l].w_off);
            covered = layers_[l].w_off + layers_[l].n_out * layers_[l].n_in;
        }
    flat_ranges_.push_back(covered);
    flat_ranges_.push_back(n_params());
    packed_.assign(static_cast<size_t>(total), T(0));
}

template <typename T>
idx Network<T>::update_item_count() {
    pack_layout();
    if (update_items_.empty()) {
        for (size_t l = 0; l < layers_.size(); ++l)
            if (layers_[l].kind == LayerKind::dense)
                for (idx q = 0; q < avx512::panel_count(layers_[l].n_out); ++q)
                    update_items_.emplace_back(static_cast<int>(l), q);
        update_items_.emplace_back(-1, 0);  // biases, PReLU slopes: small, one item
    }
    return static_cast<idx>(update_items_.size());
}

template <typename T>
void Network<T>::update_item(idx t, const OptimizerConfig& opt, const avx512::AdamF32& adam) {
    if constexpr (std::is_same_v<T, float>) {
        float *p = params_.data(), *m = opt_a_.data(), *v = opt_b_.data();
        const float* g = grads_.data();
        const int l = update_items_[static_cast<size_t>(t)].first;
        const idx n_ranges = static_cast<idx>(flat_ranges_.size() / 2);
        if (l < 0) {
            if (opt.kind == OptKind::sgd) {
                for (idx r = 0; r < n_ranges; ++r) {
                    const idx lo = flat_ranges_[2 * r], hi = flat_ranges_[2 * r + 1];
                    if (hi > lo) sgd_update(p + lo, g + lo, m + lo, hi - lo, opt, opt_step);
                }
            } else {
                adam_update_ranges(p, g, m, v, flat_ranges_.data(), n_ranges, opt, opt_step);
            }
            return;
        }
        const auto& s = layers_[static_cast<size_t>(l)];
        const idx q = update_items_[static_cast<size_t>(t)].second;
        float* packed = packed_.data() + pack_off_[static_cast<size_t>(l)];
        if (opt.kind == OptKind::sgd) {
            // The panel's rows are one contiguous block of W: update it, then re-pack it.
            const idx lo = s.w_off + avx512::kPanel * q * s.n_in;
            const idx n = std::min(avx512::kPanel, s.n_out - avx512::kPanel * q) * s.n_in;
            sgd_update(p + lo, g + lo, m + lo, n, opt, opt_step);
        } else {
            avx512::adam_panel_rows(p + s.w_off, g + s.w_off, m + s.w_off, v + s.w_off, s.n_out, s.n_in, q, adam);
        }
        // A bf16 epoch's bf16 layers are read only in bf16 until the epoch ends.
        if (bf16_epoch_ && bf16_layer(s)) {
            pack_bf16_panel(static_cast<size_t>(l), q);
        } else {
            avx512::pack_panel(packed, p + s.w_off, s.n_out, s.n_in, q);
        }
    }
}

avx512::AdamF32 adam_f32(const OptimizerConfig& opt, std::int64_t step) {
    const AdamCoefs c = adam_coefs(opt, step);
    return avx512::AdamF32{static_cast<float>(c.step_size), static_cast<float>(c.inv_bc2_sqrt),
                           static_cast<float>(c.one_minus_b1), static_cast<float>(c.b2),
                           static_cast<float>(c.one_minus_b2), static_cast<float>(c.eps),
                           static_cast<float>(c.keep), static_cast<float>(c.l2)};
}

template <typename T>
bool Network<T>::fused_update(const OptimizerConfig& opt) {
    if constexpr (std::is_same_v<T, float>) {
        if (!use_avx512()) return false;
        const idx n_items = update_item_count();
        opt_buf(0);
        if (opt.kind != OptKind::sgd) opt_buf(1);
        const avx512::AdamF32 a = adam_f32(opt, opt_step);
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_params() > kParallelGrain ? current_threads() : 1)
        for (idx t = 0; t < n_items; ++t) update_item(t, opt, a);
        packed_ok_ = true;
        return true;
    }
    return false;
}

template <typename T>
void Network<T>::pack_weights() {
    if constexpr (std::is_same_v<T, float>) {
        pack_layout();
        for (size_t l = 0; l < layers_.size(); ++l) {
            const auto& s = layers_[l];
            if (s.kind == LayerKind::dense)
                avx512::pack_weights(packed_.data() + pack_off_[l], params_.data() + s.w_off, s.n_out, s.n_in);
        }
    }
    packed_ok_ = true;
}

template <typename T>
Buffer<T>& Network<T>::opt_buf(int which) {
    auto& buf = which == 0 ? opt_a_ : opt_b_;
    if (buf.size() != params_.size()) assign_zeros(buf, n_params(), "the optimizer state");
    return buf;
}

template <typename T>
void Network<T>::reset_optimizer_state() {
    std::fill(opt_a_.begin(), opt_a_.end(), T(0));
    std::fill(opt_b_.begin(), opt_b_.end(), T(0));
    opt_step = 0;
}

template <typename T>
const T* Network<T>::forward(const T* X, idx B, bool training) {
    fast_ = std::is_same_v<T, float> && use_avx512();
    if (fast_ && !packed_ok_) pack_weights();
    const T* in = X;
    for (size_t l = 0; l < layers_.size(); ++l) {
        const auto& s = layers_[l];
        T* out = acts_[l].data();
        const T* P = params_.data();
        switch (s.kind) {
            case LayerKind::dense:
                if constexpr (std::is_same_v<T, float>) {
                    if (fast_) {
                        // Dense + a following relu-like activation in one pass: the
                        // activation's output is written directly and serves as both.
                        EpilogueAct act = EpilogueAct::identity;
                        const bool fuse = l + 1 < layers_.size() && fusable_activation(layers_[l + 1], &act);
                        T* dst = fuse ? acts_[l + 1].data() : out;
                        const float alpha = fuse ? static_cast<float>(layers_[l + 1].alpha) : 0.0f;
                        if (bf16_inference_ && bf16_layer(s))
                            dense_forward_bf16(l, dst, in, B, act, alpha);
                        else
                            avx512::dense_forward(dst, in, packed_.data() + pack_off_[l],
                                                  s.use_bias ? P + s.b_off : nullptr, B, s.n_in, s.n_out, act, alpha);
                        outs_[l] = dst;
                        in = dst;
                        if (fuse) outs_[++l] = dst;  // backward reads the sign of dst for both
                        continue;
                    }
                }
                dense_forward(out, in, P + s.w_off, s.use_bias ? P + s.b_off : nullptr, B, s.n_in, s.n_out);
                break;
            case LayerKind::activation:
                activation_forward(out, in, B * s.n_out, s.act, static_cast<T>(s.alpha));
                break;
            case LayerKind::prelu:
                prelu_forward(out, in, P + s.slope_off, B, s.n_out, s.k);
                break;
            case LayerKind::dropout:
                if (training && s.p > 0.0) {
                    dropout_forward(out, masks_[l].data(), in, B * s.n_out, s.p, seed, train_forwards, l + dropout_stream_);
                } else {
                    out = const_cast<T*>(in);  // identity: no copy
                }
                break;
        }
        outs_[l] = out;
        in = out;
    }
    if (training) ++train_forwards;
    return in;
}

template <typename T>
void Network<T>::dense_forward_bf16(size_t l, T* Y, const T* X, idx B, EpilogueAct act, float alpha) {
    if constexpr (std::is_same_v<T, float>) {
        const auto& s = layers_[l];
        Bf16Operands& o = bf16_[l];
        const idx I2 = (s.n_in + 1) / 2;
        std::uint32_t* xb = o.x_rows.data();
#pragma omp parallel for if (B * s.n_in > kParallelGrain) num_threads(current_threads())
        for (idx r = 0; r < B; ++r) avx512::row_to_bf16(xb + r * I2, X + r * s.n_in, s.n_in);
        bf16_forward_rows(l, Y, s.use_bias ? params_.data() + s.b_off : nullptr, act, alpha, 0, B);
    }
}

template <typename T>
void Network<T>::backward(const T* X, const T* d_out, idx B) {
    // Layers before the first one with parameters need no gradient at all.
    size_t first = layers_.size();
    for (size_t l = 0; l < layers_.size(); ++l)
        if (layers_[l].kind == LayerKind::dense || layers_[l].kind == LayerKind::prelu) {
            first = l;
            break;
        }
    const T* d = d_out;
    T* G = grads_.data();
    const T* P = params_.data();
    for (size_t l = layers_.size(); l-- > first;) {
        const auto& s = layers_[l];
        const T* in = l == 0 ? X : outs_[l - 1];
        const T* out = outs_[l];
        T* dx = d == d0_.data() ? d1_.data() : d0_.data();
        const bool need_dx = l > first;
        switch (s.kind) {
            case LayerKind::dense:
                if constexpr (std::is_same_v<T, float>) {
                    if (fast_) {
                        avx512::dense_backward_dw(G + s.w_off, s.use_bias ? G + s.b_off : nullptr, d, in, B, s.n_in,
                                                  s.n_out);
                        if (!need_dx) break;
                        // A relu-like activation in front: apply its derivative (from the
                        // sign of its output) in the dX store and skip its own pass.
                        EpilogueAct act = EpilogueAct::identity;
                        if (l >= 1 && fusable_activation(layers_[l - 1], &act)) {
                            avx512::dense_backward_dx(dx, d, P + s.w_off, B, s.n_in, s.n_out, outs_[l - 1], act,
                                                      static_cast<float>(layers_[l - 1].alpha));
                            d = dx;
                            --l;  // the activation's backward is done
                            continue;
                        }
                        avx512::dense_backward_dx(dx, d, P + s.w_off, B, s.n_in, s.n_out, nullptr, act, 0.0f);
                        break;
                    }
                }
                dense_backward(need_dx ? dx : nullptr, G + s.w_off, s.use_bias ? G + s.b_off : nullptr, d, in,
                               P + s.w_off, B, s.n_in, s.n_out);
                break;
            case LayerKind::activation:
                activation_backward(dx, d, in, out, B * s.n_out, s.act, static_cast<T>(s.alpha));
                break;
            case LayerKind::prelu:
                prelu_backward(dx, G + s.slope_off, d, in, P + s.slope_off, B, s.n_out, s.k);
                break;
            case LayerKind::dropout:
                if (out != in) {
                    dropout_backward(dx, d, masks_[l].data(), B * s.n_out);
                } else {
                    dx = const_cast<T*>(d);  // was the identity
                }
                break;
        }
        d = dx;
    }
}

template <typename T>
double Network<T>::loss_forward_backward(T* d_out, const T* out, const Targets<T>& y, idx B, idx* correct) {
    return compute_loss(loss_, d_out, out, y.labels, y.dense, y.weights, B, n_outputs(), correct, 0, use_avx512());
}

template <typename T>
void Network<T>::predict(T* out, const T* X, idx B, bool training) {
    const idx C = n_outputs();
    if (B == 0) return;  // nothing to compute: an empty (0, C) result
    const idx chunk = training ? B : std::min(B, kPredictChunk);
    reserve(chunk);
    packed_ok_ = false;  // Python may have written into the parameters since the last call
    // Under "medium" inference takes the bf16 kernels where fit's step would (kernel_plan).
    struct Bf16Inference {
        bool& flag;
        ~Bf16Inference() { flag = false; }
    } end_bf16{bf16_inference_};
    bf16_inference_ = !training && begin_bf16_inference();
    for (idx start = 0; start < B; start += chunk) {
        const idx rows = std::min(chunk, B - start);
        const T* y = forward(X + start * n_inputs_, rows, training);
        std::memcpy(out + start * C, y, sizeof(T) * static_cast<size_t>(rows * C));
    }
}

template <typename T>
double Network<T>::loss_and_gradients(const T* X, const Targets<T>& y, idx B, idx* correct) {
    reserve(B);
    if (!in_epoch_) packed_ok_ = false;  // Python may have written into the parameters since the last call
    const T* out = forward(X, B, true);
    const double loss = loss_forward_backward(d0_.data(), out, y, B, correct);
    if (!std::isfinite(loss)) throw DivergenceError("the loss is not finite");
    backward(X, d0_.data(), B);
    return loss;
}

template <typename T>
void Network<T>::backward_from(const T* X, const T* d_out, idx B) {
    reserve(B);
    if (train_forwards > 0) --train_forwards;  // replay the same dropout masks
    packed_ok_ = false;
    forward(X, B, true);
    backward(X, d_out, B);
}

template <typename T>
void Network<T>::match_optimizer_state(const OptimizerConfig& opt) {
    if (opt.kind != opt_kind_ || (opt_step > 0 && opt_a_.size() != params_.size())) {
        reset_optimizer_state();
        opt_kind_ = opt.kind;
    }
}

template <typename T>
Targets<T> Network<T>::gather_batch(const T* X, const Targets<T>& y, const std::int64_t* rows, idx B) {
    // Gather the batch rows into the workspace: GEMM wants them contiguous.
#pragma omp parallel for if (B * n_inputs_ > kParallelGrain) num_threads(current_threads())
    for (idx r = 0; r < B; ++r) gather_row(X, y, rows, r);
    Targets<T> batch;
    batch.labels = y.labels ? batch_labels_.data() : nullptr;
    batch.dense = y.dense ? batch_dense_.data() : nullptr;
    batch.weights = y.weights ? batch_w_.data() : nullptr;
    return batch;
}

template <typename T>
void Network<T>::gather_row(const T* X, const Targets<T>& y, const std::int64_t* rows, idx r, bool with_x) {
    const idx I = n_inputs_, C = n_outputs();
    if (with_x) std::memcpy(batch_x_.data() + r * I, X + rows[r] * I, sizeof(T) * static_cast<size_t>(I));
    if (y.labels) batch_labels_[static_cast<size_t>(r)] = y.labels[rows[r]];
    if (y.dense) std::memcpy(batch_dense_.data() + r * C, y.dense + rows[r] * C, sizeof(T) * static_cast<size_t>(C));
    if (y.weights) batch_w_[static_cast<size_t>(r)] = y.weights[rows[r]];
}

template <typename T>
void Network<T>::apply_update(const OptimizerConfig& opt) {
    const idx n = n_params();
    if (n == 0) return;
    if (!all_finite(grads_.data(), n)) throw DivergenceError("a gradient is not finite");
    match_optimizer_state(opt);
    ++opt_step;
    packed_ok_ = false;
    if (fused_update(opt)) return;
    if (opt.kind == OptKind::sgd) {
        sgd_update(params_.data(), grads_.data(), opt_buf(0).data(), n, opt, opt_step);
    } else {
        adam_update(params_.data(), grads_.data(), opt_buf(0).data(), opt_buf(1).data(), n, opt, opt_step);
    }
}

template <typename T>
double Network<T>::train_step(const T* X, const Targets<T>& y, idx B, const OptimizerConfig& opt, idx* correct) {
    const double loss = loss_and_gradients(X, y, B, correct);
    apply_update(opt);
    return loss;
}

template <typename T>
EpochStats Network<T>::train_epoch(const T* X, const Targets<T>& y, idx N, const std::int64_t* perm,
                                   idx batch_size, const OptimizerConfig& opt,
                                   const std::function<bool()>& should_stop, Reducer* reducer) {
    if (batch_size < 1) throw InputError("batch_size must be >= 1");
    const idx bs = std::min(batch_size, N);
    reserve(reducer && bs < 1 ? 1 : bs);  // a data-parallel shard may be empty
    // Within the epoch only the updates change the parameters (and re-pack them).
    packed_ok_ = false;
    struct InEpoch {
        bool& flag;
        explicit InEpoch(bool& f) : flag(f) { flag = true; }
        ~InEpoch() { flag = false; }
    } in_epoch(in_epoch_);
    EpochStats stats;
    const bool fused = fused_step_eligible();
    // A bf16 epoch leaves the bf16 layers' float32 panels stale: re-packed on next use.
    struct EndBf16 {
        Network& net;
        ~EndBf16() {
            if (net.bf16_epoch_) net.packed_ok_ = false;
            net.bf16_epoch_ = false;
        }
    } end_bf16{*this};
    if (const Matmul kernel = medium_bf16_kernel(); is_bf16(kernel)) {
        bf16_kernel_ = kernel;
        bf16_epoch_ = begin_bf16_epoch();
    }
    if (reducer) {
        struct Reducing {
            Network& net;
            ~Reducing() {
                net.reducer_ = nullptr;
                net.dropout_stream_ = 0;
            }
        } reducing{*this};
        reducer_ = reducer;
        dropout_stream_ = static_cast<std::uint64_t>(reducer->rank()) << 32;
        return reduced_epoch(X, y, N, perm, batch_size, opt, should_stop, fused);
    }
    for (idx start = 0; start < N; start += bs) {
        if (should_stop && should_stop()) throw Interrupted();
        const idx B = std::min(bs, N - start);
        const std::int64_t* rows = perm + start;
        double loss;
        if (fused) {
            loss = fused_train_step(X, y, rows, B, opt, &stats.correct);
        } else {
            const Targets<T> batch = gather_batch(X, y, rows, B);
            loss = train_step(batch_x_.data(), batch, B, opt, &stats.correct);
        }
        stats.loss_sum += loss * static_cast<double>(B);
        stats.rows += B;
        stats.batches += 1;
    }
    return stats;
}

template class Network<float>;
template class Network<double>;

}  // namespace pynn
