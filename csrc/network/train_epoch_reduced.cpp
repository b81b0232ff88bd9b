// The epoch of a data-parallel run (train_epoch with a Reducer): each process holds its own
// shard, and every step applies, on every process, the update of the union of the
// processes' batches.
//
// Exactness. The loss kernels divide by the rows of the mean (kernels/losses.h, norm_rows). Here
// each process passes the step's rows over all processes (`total`), so its gradient is
// (sum over its rows of the per-row gradient) / total, and the sum over processes is the
// gradient of the union batch: the same formula as one process fitting all rows, summed in
// another order (rank-interleaved rows, then across ranks), so equal to ~1e-16 relative in
// float64. Uneven batches (a shorter last batch, shards of different lengths) need no
// correction: `total` counts exactly the rows present.
//
// Never a hang. Before the first step the processes agree on the step count (the longest
// shard's) and on each step's total rows (two small reductions); a process whose shard ran
// out takes part in the remaining steps with zero rows and a zero gradient. A step's
// failures travel in the tail of its gradient buffer (Network::kReduceTail: loss not
// finite, gradient not finite, asked to stop), summed in the same single reduction, so
// every process skips the update and raises the same error at the same step.
#include <algorithm>
#include <cmath>
#include <exception>
#include <string>
#include <vector>

#include "dispatch/kernel_switch.h"
#include "kernels/optimizers.h"
#include "network/network.h"

namespace pynn {

template <typename T>
typename Network<T>::StepVerdict Network<T>::reduce_step(bool bad_loss, bool bad_grad) {
    const idx n = n_params();
    T* G = grads_.data();
    G[n] = bad_loss ? T(1) : T(0);
    G[n + 1] = bad_grad ? T(1) : T(0);
    G[n + 2] = step_stop_ ? T(1) : T(0);
    reducer_->sum(G, n + kReduceTail, reduce_type_of<T>());
    StepVerdict v{G[n], G[n + 1], G[n + 2]};
    // Finite gradients can still sum to inf: the summed buffer is what the update reads.
    if (v.bad_grad == 0 && !all_finite(G, n)) v.bad_grad = 1;
    return v;
}

template <typename T>
void Network<T>::throw_verdict(const StepVerdict& v) const {
    auto of = [this](T count) {
        return " (on " + std::to_string(static_cast<long long>(count)) + " of " + std::to_string(reducer_->size()) +
               " processes)";
    };
    if (v.stopped != 0) throw Interrupted("interrupted" + of(v.stopped));
    if (v.bad_loss != 0) throw DivergenceError("the loss is not finite" + of(v.bad_loss));
    if (v.bad_grad != 0) throw DivergenceError("a gradient is not finite (after the sum over processes)");
}

template <typename T>
double Network<T>::reduced_train_step(const T* X, const Targets<T>& y, idx B, idx total, const OptimizerConfig& opt,
                                      idx* correct) {
    double loss = 0.0;
    bool bad_loss = false;
    if (B > 0) {
        reserve(B);
        const T* out = forward(X, B, true);
        loss = compute_loss(loss_, d0_.data(), out, y.labels, y.dense, y.weights, B, n_outputs(), correct, total, use_avx512());
        bad_loss = !std::isfinite(loss);
        if (!bad_loss) backward(X, d0_.data(), B);
    }
    if (B == 0 || bad_loss) std::fill(grads_.begin(), grads_.begin() + n_params(), T(0));
    const StepVerdict v = reduce_step(bad_loss, false);
    if (!v.ok()) throw_verdict(v);  // v.ok(): the summed gradient is finite (reduce_step checked it)
    update_parameters(opt);
    return loss;
}

template <typename T>
EpochStats Network<T>::reduced_epoch(const T* X, const Targets<T>& y, idx N, const std::int64_t* perm,
                                     idx batch_size, const OptimizerConfig& opt,
                                     const std::function<bool()>& should_stop, bool one_region) {
    Reducer& reducer = *reducer_;
    const idx bs = batch_size;
    std::int64_t steps = (N + bs - 1) / bs;
    reducer.max(&steps, 1, ReduceType::i64);
    std::vector<std::int64_t> step_rows(static_cast<size_t>(steps));
    auto local_rows = [N, bs](idx s) { return std::clamp<idx>(N - s * bs, 0, bs); };
    for (idx s = 0; s < steps; ++s) step_rows[static_cast<size_t>(s)] = local_rows(s);
    if (steps > 0) reducer.sum(step_rows.data(), steps, ReduceType::i64);

    EpochStats stats;
    for (idx s = 0; s < steps; ++s) {
        // Ctrl-C (or a Python exception in the check) is noted, not thrown: this process
        // still takes part in the step's reduction, which tells every process to stop.
        std::exception_ptr stop;
        if (should_stop) {
            try {
                if (should_stop()) stop = std::make_exception_ptr(Interrupted());
            } catch (...) {
                stop = std::current_exception();
            }
        }
        if (!stop && reducer.stop_requested) stop = std::make_exception_ptr(Interrupted());
        step_stop_ = static_cast<bool>(stop);
        const idx B = local_rows(s), total = step_rows[static_cast<size_t>(s)];
        const std::int64_t* rows = perm + s * bs;
        double loss;
        try {
            if (one_region && B > 0) {
                loss = region_train_step(X, y, rows, B, opt, &stats.correct, total);
            } else if (B > 0) {
                const Targets<T> batch = gather_batch(X, y, rows, B);
                loss = reduced_train_step(batch_x_.data(), batch, B, total, opt, &stats.correct);
            } else {
                loss = reduced_train_step(nullptr, y, 0, total, opt, nullptr);
            }
        } catch (const Interrupted&) {
            step_stop_ = false;
            if (stop) std::rethrow_exception(stop);  // this process's own KeyboardInterrupt
            throw;
        }
        step_stop_ = false;
        stats.loss_sum += loss * static_cast<double>(total);  // this process's share of the step's loss sum
        stats.rows += B;
    }
    // The epoch's numbers over all processes: the same History everywhere.
    double global[3] = {stats.loss_sum, static_cast<double>(stats.rows), static_cast<double>(stats.correct)};
    reducer.sum(global, 3, ReduceType::f64);
    stats.loss_sum = global[0];
    stats.rows = static_cast<idx>(global[1]);
    stats.correct = static_cast<idx>(global[2]);
    return stats;
}

#define PYNN_INSTANTIATE(T)                                                                                     \
    template Network<T>::StepVerdict Network<T>::reduce_step(bool, bool);                                      \
    template void Network<T>::throw_verdict(const StepVerdict&) const;                                         \
    template double Network<T>::reduced_train_step(const T*, const Targets<T>&, idx, idx, const OptimizerConfig&, \
                                                   idx*);                                                      \
    template EpochStats Network<T>::reduced_epoch(const T*, const Targets<T>&, idx, const std::int64_t*, idx,  \
                                                  const OptimizerConfig&, const std::function<bool()>&, bool);
PYNN_INSTANTIATE(float)
PYNN_INSTANTIATE(double)
#undef PYNN_INSTANTIATE

}  // namespace pynn
