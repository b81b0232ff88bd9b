// Optimizer updates over the one flat parameter buffer, with torch.optim's formulas
// step for step (single-tensor implementations, dampening 0).
#pragma once
#include <cmath>
#include <limits>

#include "common.h"

namespace pynn {

enum class OptKind : int { sgd, adam, adamw };

struct OptimizerConfig {
    OptKind kind = OptKind::sgd;
    double lr = 0.01;
    double momentum = 0.0;      // SGD
    bool nesterov = false;      // SGD
    double weight_decay = 0.0;  // SGD/Adam: L2 added to the gradient; AdamW: decoupled
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam/AdamW
};

// p, g, buf (n). step is the 1-based step number (buf = g on step 1).
//   g' = g + wd p;  buf = mu buf + g';  d = nesterov ? g' + mu buf : buf (mu > 0) else g';  p -= lr d
// with one addition to torch's formulas: a momentum buffer below state_floor is stored as 0
// (flush_below_floor below).
template <typename T>
void sgd_update(T* p, const T* g, T* buf, idx n, const OptimizerConfig& c, std::int64_t step);

// p, g, m, v (n); step 1-based.
//   Adam: g' = g + wd p.  AdamW: p *= 1 - lr wd; g' = g.
//   m = lerp(m, g', 1-b1); v = b2 v + (1-b2) g'^2;
//   p -= (lr / (1-b1^t)) m / (sqrt(v) / sqrt(1-b2^t) + eps)
// with one addition to torch's formulas: m below state_floor and v below the smallest
// normal number are stored as 0 (flush_below_floor, flush_subnormal below).
template <typename T>
void adam_update(T* p, const T* g, T* m, T* v, idx n, const OptimizerConfig& c, std::int64_t step);

// The magnitude below which a state value that the update multiplies by small factors
// (Adam's m, SGD's momentum buffer) is stored as 0: 2^26 times the smallest normal number,
// 2^-100 ~ 7.9e-31 in float32 (2^-996 in float64).
//
// Why. Once a parameter's gradient is exactly 0 from some step on (a ReLU unit that no
// longer fires; 37% of the benchmark network's weights at batch 32), m and the momentum
// buffer decay geometrically (by 0.9 a step) towards the subnormal range, and under
// torch's formulas stick there (at a few times the smallest subnormal, 0.9 x rounds back
// to x). An operation with a subnormal result is slow: microcode on Intel, and on AMD
// Zen 5 as well. Flushing m only below the smallest normal number (sessions 7-8) was not
// enough: the update multiplies m by 1 - b1 and by lr / (1 - b1^t), products that are
// subnormal from m below ~1e-35 on, and on AMD EPYC Zen 5 (AMX-BF16: no) the batch-32
// epoch ran ~70 us a step slower (~200 against ~130) for the ~125 steps while 50,000
// weights' m crossed that range. Above the floor those products stay normal for factors
// down to 2^-26 ~ 1.5e-8 (1 - b1, mu and lr down to that). SGD with momentum kept 10,417
// subnormal buffers for good after one epoch at batch 128, each slowing every later step.
//
// v keeps the smallest-normal threshold (flush_subnormal): the update only multiplies it
// by b2 and takes its square root, which stay normal, and flushing a v the size of 2^-100
// while m is kept would shrink the denominator to eps (a huge step for a tiny eps).
//
// What it changes: a flushed m would have moved its weight by at most
// lr / (1 - b1^t) x 2^-100 / eps in that step (with lr = 1e-3 and eps = 1e-8: 8e-25 at
// step 1, 8e-26 once 1 - b1^t is near 1), and the ~1 / (1 - b1) steps after it by as
// much in all; a flushed
// momentum buffer by at most lr (1 + mu) 2^-100 a step. NaN is kept (|NaN| < floor is
// false), so divergence is still seen.
template <typename T>
constexpr T state_floor() {
    return std::numeric_limits<T>::min() * T(67108864);  // 2^26
}

template <typename T>
inline T flush_below_floor(T x) {
    return std::fabs(x) < state_floor<T>() ? T(0) : x;
}

// v below the smallest normal number, stored as 0 (NaN is kept): otherwise a v that decays
// by b2 sticks at a subnormal.
template <typename T>
inline T flush_subnormal(T x) {
    return std::fabs(x) < std::numeric_limits<T>::min() ? T(0) : x;
}

// The per-step scalars of the Adam/AdamW formulas above (hoisted out of the loop), in the
// precision T of the update that uses them:
//   g' = g + l2 p;  m += one_minus_b1 (g' - m);  v = b2 v + one_minus_b2 g'^2;
//   p = p keep - step_size m / (sqrt(v) inv_bc2_sqrt + eps)
template <typename T>
struct AdamCoefficients {
    T step_size, inv_bc2_sqrt, one_minus_b1, b2, one_minus_b2, eps, keep, l2;

    // Each scalar rounded to U (computed once in double, used in float for float32).
    template <typename U>
    AdamCoefficients<U> as() const {
        return {static_cast<U>(step_size), static_cast<U>(inv_bc2_sqrt), static_cast<U>(one_minus_b1),
                static_cast<U>(b2),        static_cast<U>(one_minus_b2), static_cast<U>(eps),
                static_cast<U>(keep),      static_cast<U>(l2)};
    }
};
// Computed in double, like torch's Python-float bias corrections.
AdamCoefficients<double> adam_coefficients(const OptimizerConfig& c, std::int64_t step);

// Adam/AdamW over the elements [lo, hi) of each range only (same formulas), with the
// step's coefficients as the caller computed them for the rest of the update.
template <typename T>
void adam_update_ranges(T* p, const T* g, T* m, T* v, const idx* ranges, idx n_ranges, const AdamCoefficients<T>& s);

// true when every element is finite (a non-finite gradient must never reach the parameters)
template <typename T>
bool all_finite(const T* x, idx n);

namespace avx512 {
// Adam/AdamW (the formulas above, coefficients already in float; optimizers_avx512.cpp, AVX-512 CPUs only) on the rows of
// one 32-output panel of a weight matrix W (O, I) with its gradient and moments (same
// layout as W): one contiguous block of each. The caller re-packs the panel after it
// (pack_panel or pack_panel_bf16), while it is in cache.
void adam_panel_rows(float* W, const float* G, float* M, float* V, idx O, idx I, idx panel,
                     const AdamCoefficients<float>& a);
}  // namespace avx512

}  // namespace pynn
