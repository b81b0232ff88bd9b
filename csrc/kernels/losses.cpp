// Losses fused with their output activation, forward and gradient (losses.h). Portable C++,
// with the AVX-512 softmax row (losses_avx512.cpp) where the caller allows it. Uses kernels/ only.
#include "kernels/losses.h"

#include <algorithm>
#include <cmath>
#include <type_traits>


namespace pynn {
namespace {
// NumPy's argmax of one row: the first maximum, or the first NaN when there is one (a NaN
// row is never silently "correct" by comparing false against everything).
template <typename T>
idx argmax_numpy(const T* z, idx C) {
    idx best = 0;
    for (idx c = 1; c < C && !std::isnan(z[best]); ++c)
        if (z[c] > z[best] || std::isnan(z[c])) best = c;
    return best;
}

// The class row b's target names: its label, or the first maximum of its probability row.
template <typename T>
idx target_class(const std::int32_t* labels, const T* probs, idx b, idx C) {
    if (labels) return labels[b];
    const T* t = probs + b * C;
    idx target = 0;
    for (idx c = 1; c < C; ++c)
        if (t[c] > t[target]) target = c;
    return target;
}

// exp(x) for the softmax of a row: float32 logits take expf (correctly rounded to within an
// ulp of float32, about three times the throughput of the double exp, which was most of
// the loss's time on small networks); float64 logits keep the double exp.
inline double exp_of(float x) { return static_cast<double>(std::exp(x)); }
inline double exp_of(double x) { return std::exp(x); }
}  // namespace

template <typename T>
double softmax_cross_entropy(T* grad, const T* logits, const std::int32_t* labels, const T* probs,
                             const T* weights, idx B, idx C, idx norm_rows, idx* correct, bool avx512_rows) {
    double total = 0.0;
    idx hits = 0;
    const double inv_b = 1.0 / static_cast<double>(norm_rows > 0 ? norm_rows : B);
    // float32 rows of up to 16 classes with labels: one zmm per row (AVX-512), the scalar
    // pass below for the rest and for rows with an inf or NaN logit.
    const bool vector_rows = std::is_same_v<T, float> && labels && C <= 16 && avx512_rows;
#pragma omp parallel for reduction(+ : total, hits) if (B * C > kParallelGrain) num_threads(current_threads())
    for (idx b = 0; b < B; ++b) {
        const T* z = logits + b * C;
        const double w = weights ? static_cast<double>(weights[b]) : 1.0;
        if constexpr (std::is_same_v<T, float>) {
            double row_loss;
            idx best;
            if (vector_rows && avx512::softmax_xent_row(z, C, labels[b], static_cast<float>(w * inv_b),
                                                        grad ? grad + b * C : nullptr, &row_loss, &best)) {
                total += w * row_loss;
                if (correct) hits += best == labels[b];
                continue;
            }
        }
        // One row pass: m = max z, e_c = exp(z_c - m), s = sum e_c; log softmax = z - m - log s
        // and softmax = e_c / s. Up to kKeep e_c are kept for the gradient (one exp per
        // element instead of two: the exps were most of the loss's time on small layers).
        constexpr idx kKeep = 64;
        double e[kKeep];
        T m = z[0];
        idx best = 0;  // the first maximum: the prediction, counted below when asked
        bool nan = std::isnan(z[0]);
        for (idx c = 1; c < C; ++c) {
            nan |= std::isnan(z[c]);
            if (z[c] > m) {
                m = z[c];
                best = c;
            }
        }
        if (correct) hits += (nan ? argmax_numpy(z, C) : best) == target_class(labels, probs, b, C);
        double s = 0.0;
        for (idx c = 0; c < C; ++c) {
            const double ec = exp_of(z[c] - m);
            if (c < kKeep) e[c] = ec;
            s += ec;
        }
        const double log_s = std::log(s), inv_s = 1.0 / s;
        double row_loss, t_sum;
        if (labels) {
            row_loss = log_s - static_cast<double>(z[labels[b]] - m);
            t_sum = 1.0;
        } else {
            row_loss = 0.0;
            t_sum = 0.0;
            for (idx c = 0; c < C; ++c) {
                const double t = static_cast<double>(probs[b * C + c]);
                if (t != 0.0) row_loss -= t * (static_cast<double>(z[c] - m) - log_s);
                t_sum += t;
            }
        }
        total += w * row_loss;
        if (grad) {
            const double scale = w * inv_b;
            T* g = grad + b * C;
            for (idx c = 0; c < C; ++c) {
                const double p = (c < kKeep ? e[c] : exp_of(z[c] - m)) * inv_s;
                const double t = labels ? (labels[b] == c ? 1.0 : 0.0) : static_cast<double>(probs[b * C + c]);
                g[c] = static_cast<T>(scale * (p * t_sum - t));
            }
        }
    }
    if (correct) *correct += hits;
    return total * inv_b;
}

namespace {
// The loop both elementwise losses share: (1/(B C)) sum_{b,c} w_b l(y_bc, t_bc), and, when
// grad is given, grad_bc = w_b l'(y_bc, t_bc) / (B C). `term(y, t, &dl)` returns l, sets dl.
template <typename T, typename Term>
double elementwise_loss(T* grad, const T* y, const T* t, const T* weights, idx B, idx C, idx norm_rows, Term term) {
    double total = 0.0;
    const double inv_n = 1.0 / (static_cast<double>(norm_rows > 0 ? norm_rows : B) * static_cast<double>(C));
#pragma omp parallel for reduction(+ : total) if (B * C > kParallelGrain) num_threads(current_threads())
    for (idx b = 0; b < B; ++b) {
        const double w = weights ? static_cast<double>(weights[b]) : 1.0;
        double row = 0.0;
        for (idx c = 0; c < C; ++c) {
            const idx i = b * C + c;
            double dl;
            row += term(static_cast<double>(y[i]), static_cast<double>(t[i]), &dl);
            if (grad) grad[i] = static_cast<T>(w * dl * inv_n);
        }
        total += w * row;
    }
    return total * inv_n;
}
}  // namespace

template <typename T>
double binary_cross_entropy(T* grad, const T* logits, const T* targets, const T* weights, idx B, idx C,
                            idx norm_rows) {
    return elementwise_loss(grad, logits, targets, weights, B, C, norm_rows, [](double z, double t, double* dl) {
        const double e = std::exp(-std::abs(z));  // in (0, 1]: no overflow
        *dl = (z >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e)) - t;  // sigmoid(z) - t
        return std::max(z, 0.0) - z * t + std::log1p(e);
    });
}

template <typename T>
double mean_squared_error(T* grad, const T* outputs, const T* targets, const T* weights, idx B, idx C,
                          idx norm_rows) {
    return elementwise_loss(grad, outputs, targets, weights, B, C, norm_rows, [](double y, double t, double* dl) {
        const double d = y - t;
        *dl = 2.0 * d;
        return d * d;
    });
}

template <typename T>
idx count_correct_argmax(const T* logits, const std::int32_t* labels, const T* probs, idx B, idx C) {
    idx correct = 0;
    for (idx b = 0; b < B; ++b) correct += argmax_numpy(logits + b * C, C) == target_class(labels, probs, b, C);
    return correct;
}

template <typename T>
idx count_correct_binary(const T* logits, const T* targets, idx B, idx C) {
    idx correct = 0;
    for (idx i = 0; i < B * C; ++i) correct += (logits[i] > T(0)) == (targets[i] >= T(0.5));
    return correct;
}

template <typename T>
double compute_loss(Loss kind, T* grad, const T* outputs, const std::int32_t* labels, const T* dense,
                    const T* weights, idx B, idx C, idx* correct, idx norm_rows, bool avx512_rows) {
    switch (kind) {
        case Loss::softmax_cross_entropy: {
            // Hits are counted in the loss's row pass (the argmax is its max).
            return softmax_cross_entropy(grad, outputs, labels, dense, weights, B, C, norm_rows, correct, avx512_rows);
        }
        case Loss::binary_cross_entropy: {
            const double loss = binary_cross_entropy(grad, outputs, dense, weights, B, C, norm_rows);
            if (correct) *correct += count_correct_binary(outputs, dense, B, C);
            return loss;
        }
        case Loss::mse:
            return mean_squared_error(grad, outputs, dense, weights, B, C, norm_rows);
        case Loss::none:
            break;
    }
    throw InputError("this network has no built-in loss");
}

#define PYNN_INSTANTIATE(T)                                                                              \
    template double softmax_cross_entropy<T>(T*, const T*, const std::int32_t*, const T*, const T*, idx, idx, idx, idx*, bool); \
    template double binary_cross_entropy<T>(T*, const T*, const T*, const T*, idx, idx, idx);              \
    template double mean_squared_error<T>(T*, const T*, const T*, const T*, idx, idx, idx);                \
    template idx count_correct_argmax<T>(const T*, const std::int32_t*, const T*, idx, idx);               \
    template idx count_correct_binary<T>(const T*, const T*, idx, idx);                                   \
    template double compute_loss<T>(Loss, T*, const T*, const std::int32_t*, const T*, const T*, idx, idx, idx*, idx, bool);
PYNN_INSTANTIATE(float)
PYNN_INSTANTIATE(double)
#undef PYNN_INSTANTIATE

}  // namespace pynn
