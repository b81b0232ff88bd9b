// The reference path of a Network (network.h): layers added one by one, forward and
// backward layer by layer (with the float32 fast path's kernels where it is on), the loss,
// the optimizer step and the epoch's batch loop. Uses dispatch/ and kernels/.
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
#include "kernels/prelu.h"
#include "dispatch/kernel_switch.h"
#include "kernels/avx512.h"
#include "kernels/avx512_bf16.h"

namespace pynn {
namespace {
// Inference runs in chunks of rows so the workspace stays small for any N.
constexpr idx kPredictChunk = 4096;

}  // namespace

template <typename T>
Network<T>::Network(idx n_inputs, std::uint64_t seed_) : seed(seed_), n_inputs_(n_inputs) {
    if (n_inputs < 1) throw InputError("n_inputs must be >= 1");
    if constexpr (std::is_same_v<T, float>) fast_path_ = std::make_unique<FastPath>();
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

template <typename T>
const T* Network<T>::forward(const T* X, idx B, bool training) {
    fast_ = std::is_same_v<T, float> && use_avx512();
    if (fast_ && !fast_path_->packed_ok) pack_weights();
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
                        const bool in_store = l + 1 < layers_.size() && store_activation(layers_[l + 1], &act);
                        T* dst = in_store ? acts_[l + 1].data() : out;
                        const float alpha = in_store ? static_cast<float>(layers_[l + 1].alpha) : 0.0f;
                        if (fast_path_->bf16_inference && bf16_layer(s))
                            dense_forward_bf16(l, dst, in, B, act, alpha);
                        else
                            avx512::dense_forward(dst, in, fast_path_->packed.data() + fast_path_->pack_off[l],
                                                  s.use_bias ? P + s.b_off : nullptr, B, s.n_in, s.n_out, act, alpha);
                        outs_[l] = dst;
                        in = dst;
                        if (in_store) outs_[++l] = dst;  // backward reads the sign of dst for both
                        continue;
                    }
                }
                dense_forward(out, in, P + s.w_off, s.use_bias ? P + s.b_off : nullptr, B, s.n_in, s.n_out);
                break;
            case LayerKind::activation:
                activation_forward(out, in, B * s.n_out, s.act, static_cast<T>(s.alpha), fast_);  // the choice read above
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
                        if (l >= 1 && store_activation(layers_[l - 1], &act)) {
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
                activation_backward(dx, d, in, out, B * s.n_out, s.act, static_cast<T>(s.alpha), fast_);  // as the forward
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
    reserve(chunk, training);
    invalidate_packed();  // Python may have written into the parameters since the last call
    // Under "medium" inference takes the bf16 kernels where fit's step would (kernel_plan).
    struct Bf16Inference {
        FastPath* fast_path;
        ~Bf16Inference() {
            if (fast_path) fast_path->bf16_inference = false;
        }
    } end_bf16{fast_path_.get()};
    if (fast_path_) fast_path_->bf16_inference = !training && begin_bf16(false);
    for (idx start = 0; start < B; start += chunk) {
        const idx rows = std::min(chunk, B - start);
        const T* y = forward(X + start * n_inputs_, rows, training);
        std::memcpy(out + start * C, y, sizeof(T) * static_cast<size_t>(rows * C));
    }
}

template <typename T>
double Network<T>::loss_and_gradients(const T* X, const Targets<T>& y, idx B, idx* correct) {
    reserve(B);
    if (!in_epoch_) invalidate_packed();  // Python may have written into the parameters since the last call
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
    invalidate_packed();
    forward(X, B, true);
    backward(X, d_out, B);
}

template <typename T>
void Network<T>::match_optimizer_state(const OptimizerConfig& opt) {
    if (opt.kind != opt_kind_ || (opt_step > 0 && first_moment_.size() != params_.size())) {
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
    if (!all_finite(grads_.data(), n_params())) throw DivergenceError("a gradient is not finite");
    update_parameters(opt);
}

template <typename T>
void Network<T>::update_parameters(const OptimizerConfig& opt) {
    const idx n = n_params();
    if (n == 0) return;
    match_optimizer_state(opt);
    ++opt_step;
    invalidate_packed();
    if (update_and_repack(opt)) return;
    if (opt.kind == OptKind::sgd) {
        sgd_update(params_.data(), grads_.data(), first_moment().data(), n, opt, opt_step);
    } else {
        adam_update(params_.data(), grads_.data(), first_moment().data(), second_moment().data(), n, opt, opt_step);
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
    invalidate_packed();
    struct InEpoch {
        bool& flag;
        explicit InEpoch(bool& f) : flag(f) { flag = true; }
        ~InEpoch() { flag = false; }
    } in_epoch(in_epoch_);
    EpochStats stats;
    const bool one_region = region_step_eligible();
    // A bf16 epoch leaves the bf16 layers' float32 panels stale: re-packed on next use.
    struct EndBf16 {
        Network& net;
        ~EndBf16() {
            if (!net.fast_path_) return;
            if (net.fast_path_->bf16_epoch) net.fast_path_->packed_ok = false;
            net.fast_path_->bf16_epoch = false;
        }
    } end_bf16{*this};
    if (fast_path_) fast_path_->bf16_epoch = begin_bf16(true);
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
        return reduced_epoch(X, y, N, perm, batch_size, opt, should_stop, one_region);
    }
    // The first layer packed for the whole epoch, where the one-region step can (fast_path.h);
    // written back however the loop ends.
    struct EndPackedFirst {
        Network& net;
        ~EndPackedFirst() {
            if (net.fast_path_) net.end_packed_first();
        }
    } end_packed_first{*this};
    begin_packed_first(opt);  // decides for itself (one-region step, large first layer, not "medium")
    for (idx start = 0; start < N; start += bs) {
        if (should_stop && should_stop()) throw Interrupted();
        const idx B = std::min(bs, N - start);
        const std::int64_t* rows = perm + start;
        double loss;
        if (one_region) {
            loss = region_train_step(X, y, rows, B, opt, &stats.correct);
        } else {
            const Targets<T> batch = gather_batch(X, y, rows, B);
            loss = train_step(batch_x_.data(), batch, B, opt, &stats.correct);
        }
        stats.loss_sum += loss * static_cast<double>(B);
        stats.rows += B;
    }
    return stats;
}

template class Network<float>;
template class Network<double>;

}  // namespace pynn
