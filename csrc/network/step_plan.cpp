// Which training step and kernels a Network runs (network.h): whether train_epoch's steps
// take the one-region step (region_step.cpp) and on how many threads, the bf16 kernel of a
// "medium" epoch, and the per-layer kernel plan that Sequential.kernel_plan and `pynn info
// --plan` show. Uses dispatch/ and kernels/.
#include <type_traits>
#include <vector>

#include "dispatch/kernel_switch.h"
#include "kernels/avx512.h"
#include "network/network.h"

namespace pynn {

template <typename T>
bool Network<T>::region_step_eligible() const {
    if constexpr (!std::is_same_v<T, float>) {
        return false;
    } else {
        // Every layer kind: Dropout's masks are drawn per element of the batch
        // (kernels/dropout.h), so each thread draws its own rows'; PReLU's slope gradient,
        // a sum over all rows, is taken after the rows' barrier by one thread a layer.
        return use_avx512() && loss_ != Loss::none && !layers_.empty() && layers_[0].kind == LayerKind::dense;
    }
}

template <typename T>
int Network<T>::region_step_threads(idx B) const {
    idx work = 0;  // multiply-adds per row of the dense layers' forward
    for (const auto& s : layers_)
        if (s.kind == LayerKind::dense) work += s.n_in * s.n_out;
    // Each thread needs rows of its own, and below 2^17 multiply-adds a step is not worth
    // a second thread.
    int nt = current_threads();
    if (B * work < (idx(1) << 17)) nt = 1;
    if (nt > B) nt = static_cast<int>(B);
    return nt < 64 ? nt : 64;
}

template <typename T>
Matmul Network<T>::medium_bf16_kernel() const {
    return region_step_eligible() && use_bf16() ? bf16_kernel() : Matmul::avx512;
}

template <typename T>
std::vector<typename Network<T>::LayerPlan> Network<T>::kernel_plan(idx B) const {
    std::vector<LayerPlan> plan;
    const bool one_region = region_step_eligible();
    const int threads = one_region ? region_step_threads(B) : current_threads();
    const Matmul bf16 = medium_bf16_kernel();
    for (size_t l = 0; l < layers_.size(); ++l) {
        const auto& s = layers_[l];
        if (s.kind != LayerKind::dense) continue;
        Matmul k = std::is_same_v<T, float> && use_avx512() ? Matmul::avx512 : Matmul::blas;
        if (is_bf16(bf16) && bf16_layer(s)) k = bf16;
        plan.push_back({l, s.n_in, s.n_out, k, one_region && owns_panels(s), threads});
    }
    return plan;
}

template bool Network<float>::region_step_eligible() const;
template int Network<float>::region_step_threads(idx) const;
template Matmul Network<float>::medium_bf16_kernel() const;
template Matmul Network<double>::medium_bf16_kernel() const;
template int Network<double>::region_step_threads(idx) const;
template std::vector<Network<float>::LayerPlan> Network<float>::kernel_plan(idx) const;
template std::vector<Network<double>::LayerPlan> Network<double>::kernel_plan(idx) const;
template bool Network<double>::region_step_eligible() const;

}  // namespace pynn
