// SGD and Adam/AdamW over flat buffers, and the finiteness check (optimizers.h). Portable
// C++ with per-function target clones. Uses common.h only.
#include "kernels/optimizers.h"

#include <atomic>
#include <cmath>
#include <limits>

#include "kernels/by_chunks.h"

namespace pynn {

namespace {

// Cloned for AVX-512 and AVX2 with an ifunc chosen at load time, so a baseline build
// still runs 16 lanes wide where the CPU has them.
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(__clang__)
#define PYNN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define PYNN_CLONES
#endif

// The scalars of one SGD step (hoisted out of the loop; the flags are loop-invariant, so
// the compiler specializes the loop for each combination).
template <typename T>
struct SgdCoefficients {
    T lr, wd, mu;
    bool decay, momentum, nesterov, first;
};

// The SGD update of one contiguous chunk. Restrict pointers and the scalars by value, so
// that it vectorizes: with the config read through a reference inside the loop (any store
// might have changed it) it ran one float at a time, and SGD with momentum took ~1.8x
// Adam's epoch at batch 32 (AMD EPYC Zen 5, AMX-BF16: no).
template <typename T>
inline void sgd_chunk(T* __restrict p, const T* __restrict g, T* __restrict buf, idx n, const SgdCoefficients<T> s) {
#pragma omp simd
    for (idx i = 0; i < n; ++i) {
        T d = g[i];
        if (s.decay) d += s.wd * p[i];
        if (s.momentum) {
            const T b = flush_below_floor(s.first ? d : s.mu * buf[i] + d);
            buf[i] = b;
            d = s.nesterov ? d + s.mu * b : b;
        }
        p[i] -= s.lr * d;
    }
}

PYNN_CLONES void sgd_chunk_f(float* p, const float* g, float* buf, idx n, const SgdCoefficients<float> s) {
    sgd_chunk(p, g, buf, n, s);
}
PYNN_CLONES void sgd_chunk_d(double* p, const double* g, double* buf, idx n, const SgdCoefficients<double> s) {
    sgd_chunk(p, g, buf, n, s);
}
inline void sgd_chunk_any(float* p, const float* g, float* buf, idx n, const SgdCoefficients<float>& s) {
    sgd_chunk_f(p, g, buf, n, s);
}
inline void sgd_chunk_any(double* p, const double* g, double* buf, idx n, const SgdCoefficients<double>& s) {
    sgd_chunk_d(p, g, buf, n, s);
}

}  // namespace

template <typename T>
void sgd_update(T* p, const T* g, T* buf, idx n, const OptimizerConfig& c, std::int64_t step) {
    const SgdCoefficients<T> s{static_cast<T>(c.lr),      static_cast<T>(c.weight_decay), static_cast<T>(c.momentum),
                               c.weight_decay != 0.0,     c.momentum != 0.0,              c.nesterov,
                               step == 1};
    by_chunks(n, [&](idx lo, idx hi) { sgd_chunk_any(p + lo, g + lo, buf + lo, hi - lo, s); });
}

namespace {

// The Adam/AdamW update of one contiguous chunk, branch-free so it vectorizes: AdamW's
// decay and Adam's L2 term are both always applied, one of them as a no-op (keep = 1 or
// l2 = 0; p * 1 and g + 0 * p are exact). sqrt(v) / sqrt(bc2) is a multiply by the
// reciprocal (within an ulp of torch's divide; divides and square roots bound this loop).
template <typename T>
inline void adam_chunk(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, idx n,
                       const AdamCoefficients<T> s) {
#pragma omp simd
    for (idx i = 0; i < n; ++i) {
        const T p0 = p[i];
        const T gi = g[i] + s.l2 * p0;
        const T mi = flush_below_floor(m[i] + s.one_minus_b1 * (gi - m[i]));
        const T vi = flush_subnormal(s.b2 * v[i] + s.one_minus_b2 * gi * gi);
        m[i] = mi;
        v[i] = vi;
        const T denom = std::sqrt(vi) * s.inv_bc2_sqrt + s.eps;
        p[i] = p0 * s.keep - s.step_size * mi / denom;
    }
}

PYNN_CLONES void adam_chunk_f(float* p, const float* g, float* m, float* v, idx n, const AdamCoefficients<float> s) {
    adam_chunk(p, g, m, v, n, s);
}
PYNN_CLONES void adam_chunk_d(double* p, const double* g, double* m, double* v, idx n, const AdamCoefficients<double> s) {
    adam_chunk(p, g, m, v, n, s);
}
inline void adam_chunk_any(float* p, const float* g, float* m, float* v, idx n, const AdamCoefficients<float>& s) {
    adam_chunk_f(p, g, m, v, n, s);
}
inline void adam_chunk_any(double* p, const double* g, double* m, double* v, idx n, const AdamCoefficients<double>& s) {
    adam_chunk_d(p, g, m, v, n, s);
}

}  // namespace

AdamCoefficients<double> adam_coefficients(const OptimizerConfig& c, std::int64_t step) {
    const double bc1 = 1.0 - std::pow(c.beta1, static_cast<double>(step));
    const double bc2 = 1.0 - std::pow(c.beta2, static_cast<double>(step));
    const bool decoupled = c.kind == OptKind::adamw;
    AdamCoefficients<double> a;
    a.step_size = c.lr / bc1;
    a.inv_bc2_sqrt = 1.0 / std::sqrt(bc2);  // a multiply: one divide less per element
    a.one_minus_b1 = 1.0 - c.beta1;
    a.b2 = c.beta2;
    a.one_minus_b2 = 1.0 - c.beta2;
    a.eps = c.eps;
    a.keep = decoupled ? 1.0 - c.lr * c.weight_decay : 1.0;  // AdamW: p *= 1 - lr wd
    a.l2 = decoupled ? 0.0 : c.weight_decay;                 // Adam: g += wd p
    return a;
}

template <typename T>
void adam_update(T* p, const T* g, T* m, T* v, idx n, const OptimizerConfig& c, std::int64_t step) {
    const AdamCoefficients<T> s = adam_coefficients(c, step).template as<T>();
    by_chunks(n, [&](idx lo, idx hi) { adam_chunk_any(p + lo, g + lo, m + lo, v + lo, hi - lo, s); });
}

template <typename T>
void adam_update_ranges(T* p, const T* g, T* m, T* v, const idx* ranges, idx n_ranges, const AdamCoefficients<T>& s) {
    for (idx r = 0; r < n_ranges; ++r) {
        const idx lo = ranges[2 * r], hi = ranges[2 * r + 1];
        if (hi > lo) adam_chunk_any(p + lo, g + lo, m + lo, v + lo, hi - lo, s);
    }
}

namespace {
// x - x is 0 for finite x and NaN otherwise: one vectorizable sum, no branches.
template <typename T>
inline T nonfinite_sum(const T* __restrict x, idx n) {
    T acc = T(0);
#pragma omp simd reduction(+ : acc)
    for (idx i = 0; i < n; ++i) acc += x[i] - x[i];
    return acc;
}
PYNN_CLONES float nonfinite_sum_f(const float* x, idx n) { return nonfinite_sum(x, n); }
PYNN_CLONES double nonfinite_sum_d(const double* x, idx n) { return nonfinite_sum(x, n); }
inline float nonfinite_sum_any(const float* x, idx n) { return nonfinite_sum_f(x, n); }
inline double nonfinite_sum_any(const double* x, idx n) { return nonfinite_sum_d(x, n); }
}  // namespace

template <typename T>
bool all_finite(const T* x, idx n) {
    std::atomic<bool> bad{false};
    by_chunks(n, [&](idx lo, idx hi) {
        if (nonfinite_sum_any(x + lo, hi - lo) != T(0)) bad.store(true, std::memory_order_relaxed);
    });
    return !bad.load();
}

template void sgd_update<float>(float*, const float*, float*, idx, const OptimizerConfig&, std::int64_t);
template void sgd_update<double>(double*, const double*, double*, idx, const OptimizerConfig&, std::int64_t);
template void adam_update<float>(float*, const float*, float*, float*, idx, const OptimizerConfig&, std::int64_t);
template void adam_update<double>(double*, const double*, double*, double*, idx, const OptimizerConfig&, std::int64_t);
template void adam_update_ranges<float>(float*, const float*, float*, float*, const idx*, idx,
                                        const AdamCoefficients<float>&);
template void adam_update_ranges<double>(double*, const double*, double*, double*, const idx*, idx,
                                         const AdamCoefficients<double>&);
template bool all_finite<float>(const float*, idx);
template bool all_finite<double>(const double*, idx);

}  // namespace pynn
