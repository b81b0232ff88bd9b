#include "optimizers.h"

#include <cmath>

namespace pynn {

template <typename T>
void sgd_update(T* p, const T* g, T* buf, idx n, const OptimizerConfig& c, std::int64_t step) {
    const T lr = static_cast<T>(c.lr), wd = static_cast<T>(c.weight_decay), mu = static_cast<T>(c.momentum);
    const bool use_momentum = c.momentum != 0.0, first = step == 1;
#pragma omp parallel for simd if (n > kParallelGrain) num_threads(current_threads())
    for (idx i = 0; i < n; ++i) {
        T d = g[i];
        if (wd != T(0)) d += wd * p[i];
        if (use_momentum) {
            buf[i] = first ? d : mu * buf[i] + d;
            d = c.nesterov ? d + mu * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

template <typename T>
void adam_update(T* p, const T* g, T* m, T* v, idx n, const OptimizerConfig& c, std::int64_t step) {
    // Hoisted scalars, computed in double like torch's Python-float bias corrections.
    const double bc1 = 1.0 - std::pow(c.beta1, static_cast<double>(step));
    const double bc2 = 1.0 - std::pow(c.beta2, static_cast<double>(step));
    const T step_size = static_cast<T>(c.lr / bc1);
    const T bc2_sqrt = static_cast<T>(std::sqrt(bc2));
    const T one_minus_b1 = static_cast<T>(1.0 - c.beta1), b2 = static_cast<T>(c.beta2);
    const T one_minus_b2 = static_cast<T>(1.0 - c.beta2), eps = static_cast<T>(c.eps);
    const bool decoupled = c.kind == OptKind::adamw;
    const T wd = static_cast<T>(c.weight_decay);
    const T decay = static_cast<T>(1.0 - c.lr * c.weight_decay);
#pragma omp parallel for simd if (n > kParallelGrain) num_threads(current_threads())
    for (idx i = 0; i < n; ++i) {
        T gi = g[i];
        if (decoupled) {
            p[i] *= decay;
        } else if (wd != T(0)) {
            gi += wd * p[i];
        }
        m[i] += one_minus_b1 * (gi - m[i]);
        v[i] = b2 * v[i] + one_minus_b2 * gi * gi;
        const T denom = std::sqrt(v[i]) / bc2_sqrt + eps;
        p[i] -= step_size * m[i] / denom;
    }
}

template <typename T>
bool all_finite(const T* x, idx n) {
    // x - x is 0 for finite x and NaN otherwise: one vectorizable sum, no branches.
    T acc = T(0);
#pragma omp simd reduction(+ : acc)
    for (idx i = 0; i < n; ++i) acc += x[i] - x[i];
    return acc == T(0);
}

template void sgd_update<float>(float*, const float*, float*, idx, const OptimizerConfig&, std::int64_t);
template void sgd_update<double>(double*, const double*, double*, idx, const OptimizerConfig&, std::int64_t);
template void adam_update<float>(float*, const float*, float*, float*, idx, const OptimizerConfig&, std::int64_t);
template void adam_update<double>(double*, const double*, double*, double*, idx, const OptimizerConfig&, std::int64_t);
template bool all_finite<float>(const float*, idx);
template bool all_finite<double>(const double*, idx);

}  // namespace pynn
