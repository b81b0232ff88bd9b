// The network's buffers (network.h): the parameter layout and the parameter, gradient,
// optimizer-state and workspace allocations. Uses network/allocation.h and kernels/.
#include <algorithm>
#include <cstdio>
#include <limits>
#include <string>

#include "network/allocation.h"
#include "network/network.h"

namespace pynn {

idx checked_add_mul(idx a, idx b, idx c, const char* what) {
    idx prod, sum;
    if (__builtin_mul_overflow(b, c, &prod) || __builtin_add_overflow(a, prod, &sum))
        throw AllocationError(std::string(what) + " overflows a 64-bit size; the network is too large to allocate");
    return sum;
}

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
void Network<T>::reserve(idx B, bool training) {
    if (!finalized_) throw InputError("network is not finalized");
    // An empty batch would leave the workspace unallocated (and the mean loss 0/0).
    if (B < 1) throw InputError("X must have at least one row");
    // B and the widths are < 2^31 (checked in Python and by BLAS), so B * width fits int64.
    const std::string what = "the workspace for a batch of " + std::to_string(B) + " rows (lower batch_size)";
    if (B > capacity_) {
        acts_.resize(layers_.size());
        for (size_t l = 0; l < layers_.size(); ++l) assign_zeros(acts_[l], B * layers_[l].n_out, what);
        // The one-region step's buffers, sized on its first use (region_train_step).
        if (fast_path_) fast_path_->grad_out.clear();
        capacity_ = B;
    }
    if (!training || B <= training_rows_) return;
    const idx rows = B;
    widest_ = n_inputs_;
    masks_.resize(layers_.size());
    for (size_t l = 0; l < layers_.size(); ++l) {
        const auto& s = layers_[l];
        widest_ = std::max(widest_, s.n_out);
        if (s.kind == LayerKind::dropout) assign_zeros(masks_[l], rows * s.n_out, what);
    }
    assign_zeros(d0_, rows * widest_, what);
    assign_zeros(d1_, rows * widest_, what);
    assign_zeros(batch_x_, rows * n_inputs_, what);
    assign_zeros(batch_dense_, rows * n_outputs(), what);
    batch_w_.assign(static_cast<size_t>(rows), T(0));
    batch_labels_.assign(static_cast<size_t>(rows), 0);
    training_rows_ = rows;
}

template <typename T>
Buffer<T>& Network<T>::optimizer_state(Buffer<T>& buf) {
    if (buf.size() != params_.size()) assign_zeros(buf, n_params(), "the optimizer state");
    return buf;
}

template <typename T>
void Network<T>::reset_optimizer_state() {
    std::fill(first_moment_.begin(), first_moment_.end(), T(0));
    std::fill(second_moment_.begin(), second_moment_.end(), T(0));
    opt_step = 0;
}

template void Network<float>::finalize();
template void Network<double>::finalize();
template void Network<float>::reserve(idx, bool);
template void Network<double>::reserve(idx, bool);
template Buffer<float>& Network<float>::optimizer_state(Buffer<float>&);
template Buffer<double>& Network<double>::optimizer_state(Buffer<double>&);
template void Network<float>::reset_optimizer_state();
template void Network<double>::reset_optimizer_state();

}  // namespace pynn
