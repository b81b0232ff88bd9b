// The bfloat16 products of a "medium" layer (network/fast_path.h, Bf16Operands), each on the kernel
// the plan chose (dispatch/plan.h, FastPath::bf16_kernel): the only place that knows which bf16
// kernel family runs, so the one-region step and predict stay the same for all of them.
//   forward:  Y (B, O) = act(Xb (B, I) Wp^T + b)   Xb: x_rows, Wp: w_panels
//   dX:       dX (B, I) = (dZb (B, O) W) * act'    dZb: dz_rows, W: w_pairs
//   dW:       dW (O, I) = dZ^T X                   dZ^T: dz_pairs (avx512-bf16, row pairs) or
//                                                  dz_cols (tiles: pairs along the batch);
//                                                  X: x_pairs (row pairs)
// "avx512-bf16" runs the vdpbf16ps kernels (kernels/avx512_bf16.h); "amx" and "amx-emulated" the
// tile kernels (kernels/tile_bf16.h) on the AMX or the scalar tile backend.
#include <type_traits>

#include "kernels/tile_bf16.h"
#include "kernels/avx512.h"
#include "kernels/avx512_bf16.h"
#include "network/network.h"

namespace pynn {
namespace {
tile::TileBackend backend_of(Matmul k) { return k == Matmul::amx ? tile::TileBackend::amx : tile::TileBackend::scalar; }
}  // namespace

template <typename T>
void Network<T>::bf16_forward_tile(size_t l, T* Y, const T* bias, EpilogueAct act, float alpha, idx r0, int rows,
                                   idx q) {
    if constexpr (std::is_same_v<T, float>) {
        const auto& s = layers_[l];
        const Matmul k = fast_path_->bf16_kernel;
        FastPath::Bf16Operands& o = fast_path_->bf16_operands[l];
        if (is_tile(k))
            tile::dense_forward_tile(backend_of(k), Y, o.x_rows.data(), o.w_panels.data(), bias, s.n_in, s.n_out, act,
                                     alpha, r0, rows, q);
        else
            avx512::dense_forward_tile_bf16(Y, o.x_rows.data(), o.w_panels.data(), bias, s.n_in, s.n_out, act, alpha, r0,
                                            rows, q);
    }
}

template <typename T>
void Network<T>::bf16_forward_rows(size_t l, T* Y, const T* bias, EpilogueAct act, float alpha, idx r0, idx nr) {
    if constexpr (std::is_same_v<T, float>) {
        const auto& s = layers_[l];
        const Matmul k = fast_path_->bf16_kernel;
        FastPath::Bf16Operands& o = fast_path_->bf16_operands[l];
        const std::uint32_t* xb = o.x_rows.data() + r0 * ((s.n_in + 1) / 2);
        if (is_tile(k))
            tile::dense_forward(backend_of(k), Y, xb, o.w_panels.data(), bias, nr, s.n_in, s.n_out, act, alpha);
        else
            avx512::dense_forward_bf16(Y, xb, o.w_panels.data(), bias, nr, s.n_in, s.n_out, act, alpha);
    }
}

template <typename T>
void Network<T>::bf16_dx_rows(size_t l, T* dX, const T* y_prev, EpilogueAct act, float alpha, idx r0, idx nr) {
    if constexpr (std::is_same_v<T, float>) {
        const auto& s = layers_[l];
        const Matmul k = fast_path_->bf16_kernel;
        FastPath::Bf16Operands& o = fast_path_->bf16_operands[l];
        const std::uint32_t* dzb = o.dz_rows.data() + r0 * ((s.n_out + 1) / 2);
        if (is_tile(k))
            tile::dense_backward_dx(backend_of(k), dX, dzb, o.w_pairs.data(), nr, s.n_in, s.n_out, y_prev, act, alpha);
        else
            avx512::dense_backward_dx_bf16(dX, dzb, o.w_pairs.data(), nr, s.n_in, s.n_out, y_prev, act, alpha);
    }
}

template <typename T>
void Network<T>::bf16_dz_operand(size_t l, idx r0, idx r1, idx B) {
    if constexpr (std::is_same_v<T, float>) {
        const idx O = layers_[l].n_out;
        const float* dz = fast_path_->grad_out[l].data();
        FastPath::Bf16Operands& o = fast_path_->bf16_operands[l];
        if (is_tile(fast_path_->bf16_kernel)) {
            tile::cols_to_bf16_pairs(o.dz_cols.data(), dz, B, O, r0 / 2, (r1 + 1) / 2);
            return;
        }
        std::uint32_t* pairs = o.dz_pairs.data();
        for (idx p = r0 / 2; p < (r1 + 1) / 2; ++p)
            avx512::rows_to_bf16_pairs(pairs + p * O, dz + 2 * p * O, 2 * p + 1 < B ? dz + (2 * p + 1) * O : nullptr, O);
    }
}

template <typename T>
bool Network<T>::bf16_dw_tile(size_t l, T* dW, T* db, idx B, idx o0, int rows, idx p) {
    if constexpr (std::is_same_v<T, float>) {
        const auto& s = layers_[l];
        const Matmul k = fast_path_->bf16_kernel;
        FastPath::Bf16Operands& o = fast_path_->bf16_operands[l];
        const float* dz = fast_path_->grad_out[l].data();
        if (is_tile(k))
            return tile::dw_tile(backend_of(k), dW, db, dz, o.dz_cols.data(), o.x_pairs.data(), B, s.n_in, s.n_out, o0,
                                 rows, p);
        return avx512::dw_tile_bf16(dW, db, dz, o.dz_pairs.data(), o.x_pairs.data(), B, s.n_in, s.n_out, o0, rows, p);
    }
    return true;
}

template <typename T>
void Network<T>::bf16_thread_done() {
    if constexpr (std::is_same_v<T, float>) {
        if (is_tile(fast_path_->bf16_kernel)) tile::release_tiles(backend_of(fast_path_->bf16_kernel));
    }
}

#define PYNN_BF16_PRODUCTS(T)                                                                              \
    template void Network<T>::bf16_forward_tile(size_t, T*, const T*, EpilogueAct, float, idx, int, idx);      \
    template void Network<T>::bf16_forward_rows(size_t, T*, const T*, EpilogueAct, float, idx, idx);           \
    template void Network<T>::bf16_dx_rows(size_t, T*, const T*, EpilogueAct, float, idx, idx);               \
    template void Network<T>::bf16_dz_operand(size_t, idx, idx, idx);                                      \
    template bool Network<T>::bf16_dw_tile(size_t, T*, T*, idx, idx, int, idx);                             \
    template void Network<T>::bf16_thread_done();
PYNN_BF16_PRODUCTS(float)
PYNN_BF16_PRODUCTS(double)

}  // namespace pynn
