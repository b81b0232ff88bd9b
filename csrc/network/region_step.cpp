// The training step of train_epoch as one parallel region (float32, AVX-512 kernels).
//
// The layer-by-layer step (network/network.cpp) forks a parallel loop per kernel: about ten
// fork/joins per step, each a point where one thread waits for the other. On small
// networks they cost more than the arithmetic (digits 64-100-10 at batch 200: this step
// is 22% faster); on the 784-256-128-10 benchmark they are a few percent. Here one region
// runs the step in four phases:
//
//   1. only for a large first layer (W over 256 KB): its forward split by 32-output panels
//      of W0: thread t owns the same panels every step (it also computes their dW, updates
//      and re-packs them in 3-4, so W0, its moments and its packed copy stay in that
//      core's caches; a split by rows made each core read all of W0 every step and was
//      slower)                                                   -- barrier (after the gather too)
//   2. split by batch rows, each thread its own rows: gather, the (rest of the) forward
//      (a Dropout layer's masks too: each element's is drawn from its index in the batch),
//      the loss and dLoss/dout, the backward dX chain (a PReLU's dX); every dense layer's output
//      gradient dZ_l (B, n_out) is kept in FastPath::grad_out[l]              -- barrier
//   3. dW_l = dZ_l^T X_l and db_l = colsum dZ_l: a large W by owned panels; the tiles of
//      all small ones shared out by cost; a PReLU's slope gradient (a sum over all rows:
//      its output gradient is kept in grad_out too) by one thread a layer; every tile
//      flags inf/NaN                                                          -- barrier
//      (a large first layer, outside "medium" and data parallelism: its W, gradient and
//      moments stay in the forward's panel layout for the whole epoch (FastPath::packed_first),
//      dW is computed into that layout and the update in 4 re-packs nothing: on AMD Zen 5
//      the batch-32 step's median went from 123 to 115 us, batch 128 from 352 to 343)
//      data-parallel only (reducer_ set): one thread sums the gradient buffer and the
//      flags across processes (reduce_step)                                   -- barrier
//   4. unless a loss or gradient was not finite (on any process): the optimizer update
//      and re-pack of a large W's owned panels; the small layers' panels and the other
//      parameters shared out by cost
//
// Two barriers (four with a large first layer) and one fork/join per step. Each output
// element is computed by the same kernels in the same order as in the layer-by-layer
// step, so both give bit-identical parameters, for any thread count
// (tests/core/test_fused_step.py).
//
// In a "medium" precision epoch (dispatch/kernel_switch.h; FastPath::bf16_epoch) the dense
// layers of at least 128 x 128 weights (bf16_layer) take bfloat16 operands in their forward,
// dW and dX. A large first layer: each thread converts its rows of the batch straight from X (rows and
// row pairs, no float32 copy; before the first barrier) and its own panels' columns of dZ0
// (in 3; on the tile kernels dZ0 is converted by rows in 2, transposed, as every tile
// layer's is). The others: the rows are split on even boundaries, and each thread converts its own
// rows of the layer's input (rows for the forward, row pairs for dW) and of its dZ (rows for
// dX, row pairs for dW) in 2. The update re-packs such a W as bf16 panels and row pairs
// instead of float32 panels (tests/test_bf16.py). Which bf16 kernel runs those products
// (vdpbf16ps or AMX tiles) is the plan's choice, made in network/bf16_products.cpp.
#include <omp.h>

#include <atomic>
#include <algorithm>
#include <cmath>
#include <exception>
#include <type_traits>

#include "kernels/activations.h"
#include "dispatch/kernel_switch.h"
#include "kernels/tile_bf16.h"
#include "kernels/avx512.h"
#include "kernels/avx512_bf16.h"
#include "kernels/column_sums.h"
#include "kernels/dropout.h"
#include "kernels/optimizers.h"
#include "kernels/prelu.h"
#include "network/network.h"

namespace pynn {
namespace {
// The thread (of team) whose share of [0, total) holds the midpoint of [start, end).
int share_owner(double start, double end, double total, int team) {
    if (!(total > 0.0)) return 0;
    const int owner = static_cast<int>((start + end) * 0.5 * team / total);
    return owner < team ? owner : team - 1;
}
}  // namespace

template <typename T>
double Network<T>::region_train_step(const T* X, const Targets<T>& y, const std::int64_t* rows, idx B,
                                    const OptimizerConfig& opt, idx* correct, idx norm_rows) {
    if constexpr (!std::is_same_v<T, float>) {
        throw std::logic_error("the one-region training step is float32 only");
    } else {
        reserve(B);
        reserve_region_step();
        FastPath& fast = *fast_path_;
        fast_ = true;
        if (!fast.packed_ok) pack_weights();
        match_optimizer_state(opt);
        first_moment();  // allocated here, not inside the region
        if (opt.kind != OptKind::sgd) second_moment();
        update_item_count();  // builds update_items, whose order shared_updates follows
        ++opt_step;  // the update below is step opt_step (undone if the step diverges)
        const AdamCoefficients<float> adam = adam_coefficients(opt, opt_step).as<float>();

        // Where each layer's output lives (reserve() may have moved acts_): a dense layer
        // with a store activation writes the activation's output, as forward() does.
        const size_t L = layers_.size();
        const std::vector<EpilogueAct>& store_act = fast.store_act;
        const std::vector<char>& act_in_store = fast.act_in_store;
        for (size_t l = 0; l < L; ++l) {
            outs_[l] = acts_[l].data();
            // Dropout with p = 0 is the identity, its output its input (as forward() has it).
            if (layers_[l].kind == LayerKind::dropout && !(layers_[l].p > 0.0)) outs_[l] = outs_[l - 1];
            if (act_in_store[l]) {
                outs_[l] = acts_[l + 1].data();
                outs_[l + 1] = acts_[l + 1].data();
                ++l;
            }
        }
        const idx I = n_inputs_, C = n_outputs(), widest = widest_;
        float* P = params_.data();
        float* G = grads_.data();
        int nt = region_step_threads(B);
        const bool first_by_panels = owns_panels(layers_[0]);
        // A "medium" epoch: the layers bf16_layer() picks take bf16 operands (train_epoch sets
        // bf16_epoch only when there is one, and has packed their W).
        const bool bf16 = fast.bf16_epoch;
        auto on16 = [this, bf16](size_t l) { return bf16 && bf16_layer(layers_[l]); };
        const bool bf16_first = on16(0) && first_by_panels;  // the first layer's panel path
        const bool tiles = bf16 && is_tile(fast.bf16_kernel);    // dW's dZ operand by rows (dz_cols)
        // Rows of one product tile: 14 for the zmm kernels (28 accumulators), 16 for AMX tiles.
        const int tile_rows = tiles ? tile::kTileRows : avx512::kTileRows;
        const idx pairs = (B + 1) / 2;
        double part_loss[64] = {};
        idx part_correct[64] = {};
        std::atomic<bool> bad_loss{false}, bad_grad{false};
        // Under a reducer: the verdict all processes agree on, taken between 3 and 4.
        StepVerdict verdict;
        std::exception_ptr reduce_error;

#pragma omp parallel num_threads(nt)
        {
            ThreadScope serial(1);  // kernels called below run on this thread only
            const int t = omp_get_thread_num(), team = omp_get_num_threads();
            // Panels [first, last) of a layer with npan panels are this thread's.
            auto owned = [t, team](idx npan, idx* first, idx* last) {
                *first = npan * t / team;
                *last = npan * (t + 1) / team;
            };
            // This thread's rows. With bf16 layers the split falls on even rows: each thread
            // interleaves the row pairs (of a layer's input and dZ, for its dW) of its own rows.
            const idx r0 = bf16 ? std::min(B, 2 * (pairs * t / team)) : B * t / team;
            const idx r1 = bf16 ? (t + 1 == team ? B : std::min(B, 2 * (pairs * (t + 1) / team))) : B * (t + 1) / team;
            const idx nr = r1 - r0;
            // bf16 operands of this thread's rows of a matrix whose row r is row(r) (width floats).
            auto own_pairs_of = [r0, r1, B](std::uint32_t* dst, idx width, auto row) {
                for (idx p = r0 / 2; p < (r1 + 1) / 2; ++p)
                    avx512::rows_to_bf16_pairs(dst + p * width, row(2 * p), 2 * p + 1 < B ? row(2 * p + 1) : nullptr,
                                               width);
            };
            auto own_rows_of = [r0, r1](std::uint32_t* dst, idx width, auto row) {
                const idx w2 = (width + 1) / 2;
                for (idx r = r0; r < r1; ++r) avx512::row_to_bf16(dst + r * w2, row(r), width);
            };
            auto own_pairs = [&](std::uint32_t* dst, const float* src, idx width) {
                own_pairs_of(dst, width, [src, width](idx r) { return src + r * width; });
            };
            auto own_rows = [&](std::uint32_t* dst, const float* src, idx width) {
                own_rows_of(dst, width, [src, width](idx r) { return src + r * width; });
            };
            // Gather this thread's rows: the kernels want them contiguous. A bf16 first layer
            // with panels takes its operands (rows for the forward, row pairs for dW) straight
            // from X's rows: the float32 copy of the batch would be read only to convert it.
            for (idx r = r0; r < r1; ++r) gather_row(X, y, rows, r, !bf16_first);
            if (bf16_first) {
                auto x_row = [X, rows, I](idx r) { return X + rows[r] * I; };
                own_rows_of(fast.bf16_operands[0].x_rows.data(), I, x_row);
                own_pairs_of(fast.bf16_operands[0].x_pairs.data(), I, x_row);
            }
            // 1. A large first layer: owned panels x all rows (needs every thread's rows).
            if (first_by_panels) {
#pragma omp barrier
                const auto& s = layers_[0];
                idx q0, q1;
                owned(avx512::panel_count(s.n_out), &q0, &q1);
                const idx nb = avx512::row_block_count(B, bf16_first ? tile_rows : avx512::kTileRows);
                for (idx q = q0; q < q1; ++q)
                    for (idx i = 0; i < nb; ++i) {
                        idx b0;
                        int mr;
                        avx512::row_block(B, i, &b0, &mr, bf16_first ? tile_rows : avx512::kTileRows);
                        const float alpha = act_in_store[0] ? static_cast<float>(layers_[1].alpha) : 0.0f;
                        if (bf16_first)
                            bf16_forward_tile(0, const_cast<float*>(outs_[0]), s.use_bias ? P + s.b_off : nullptr,
                                              store_act[0], alpha, b0, mr, q);
                        else
                            avx512::dense_forward_tile(const_cast<float*>(outs_[0]), batch_x_.data(),
                                                       fast.packed.data() + fast.pack_off[0],
                                                       s.use_bias ? P + s.b_off : nullptr, s.n_in, s.n_out,
                                                       store_act[0], alpha, b0, mr, q);
                    }
#pragma omp barrier
            }
            // 2. This thread's rows through the (rest of the) forward, the loss, and back.
            if (nr > 0) {
                size_t l = first_by_panels ? (act_in_store[0] ? 2 : 1) : 0;
                const float* in = l == 0 ? batch_x_.data() + r0 * I : outs_[l - 1] + r0 * layers_[l - 1].n_out;
                for (; l < L; ++l) {
                    const auto& s = layers_[l];
                    float* out = const_cast<float*>(outs_[l]) + r0 * s.n_out;  // outs_ point into acts_
                    if (s.kind == LayerKind::dense) {
                        const float alpha = act_in_store[l] ? static_cast<float>(layers_[l + 1].alpha) : 0.0f;
                        const float* bias = s.use_bias ? P + s.b_off : nullptr;
                        if (on16(l)) {  // the input's rows for the forward, its row pairs for dW
                            FastPath::Bf16Operands& o = fast.bf16_operands[l];
                            const float* x = l == 0 ? batch_x_.data() : outs_[l - 1];
                            own_rows(o.x_rows.data(), x, s.n_in);
                            own_pairs(o.x_pairs.data(), x, s.n_in);
                            bf16_forward_rows(l, out, bias, store_act[l], alpha, r0, nr);
                        } else {
                            avx512::dense_forward(out, in, fast.packed.data() + fast.pack_off[l], bias, nr, s.n_in, s.n_out,
                                                  store_act[l], alpha);
                        }
                        if (act_in_store[l]) ++l;
                    } else if (s.kind == LayerKind::prelu) {
                        prelu_forward(out, in, P + s.slope_off, nr, s.n_out, s.k);
                    } else if (s.kind == LayerKind::dropout) {  // this thread's rows' masks
                        if (s.p > 0.0)
                            dropout_forward(out, masks_[l].data() + r0 * s.n_out, in, nr * s.n_out, s.p, seed,
                                            train_forwards, l + dropout_stream_, r0 * s.n_out);
                    } else {
                        activation_forward(out, in, nr * s.n_out, s.act, static_cast<float>(s.alpha), fast_);  // true here
                    }
                    in = out;
                }
                // The loss's mean is over all B rows: the threads' partial sums add up to it.
                // Where this thread's rows of dLoss/d(output of layer j) go: a dense layer's
                // output gradient is kept in fast.grad_out[j] for its dW (rows of its width);
                // the others ping-pong in d0_/d1_, where each thread's rows start at
                // r0 * widest so that layers of different widths never make two threads'
                // rows overlap.
                const float* d_base = nullptr;
                auto rows_of = [&](size_t j) -> float* {
                    if (keeps_output_gradient(layers_[j])) {
                        d_base = fast.grad_out[j].data();
                        return fast.grad_out[j].data() + r0 * layers_[j].n_out;
                    }
                    float* scratch = d_base == d0_.data() ? d1_.data() : d0_.data();
                    d_base = scratch;
                    return scratch + r0 * widest;
                };
                float* d = rows_of(L - 1);
                part_loss[t] = compute_loss(loss_, d, outs_[L - 1] + r0 * C,
                                            y.labels ? batch_labels_.data() + r0 : nullptr,
                                            y.dense ? batch_dense_.data() + r0 * C : nullptr,
                                            y.weights ? batch_w_.data() + r0 : nullptr, nr, C, &part_correct[t],
                                            norm_rows > 0 ? norm_rows : B, use_avx512());
                if (!std::isfinite(part_loss[t])) bad_loss.store(true, std::memory_order_relaxed);
                // Layer 0 is dense and needs no dX.
                for (l = L - 1; l > 0; --l) {
                    const auto& s = layers_[l];
                    if (s.kind == LayerKind::dense) {
                        // The activation's derivative rides in the dX store (then its pass is skipped).
                        EpilogueAct act = EpilogueAct::identity;
                        const bool in_store = store_activation(layers_[l - 1], &act);
                        float* dx = rows_of(in_store ? l - 2 : l - 1);
                        const float* y_prev = in_store ? outs_[l - 1] + r0 * s.n_in : nullptr;
                        const float alpha = in_store ? static_cast<float>(layers_[l - 1].alpha) : 0.0f;
                        if (on16(l)) {  // dZ's rows for dX, and dW's operand
                            own_rows(fast.bf16_operands[l].dz_rows.data(), fast.grad_out[l].data(), s.n_out);
                            bf16_dz_operand(l, r0, r1, B);
                            bf16_dx_rows(l, dx, y_prev, act, alpha, r0, nr);
                        } else {
                            avx512::dense_backward_dx(dx, d, P + s.w_off, nr, s.n_in, s.n_out, y_prev, act, alpha);
                        }
                        d = dx;
                        if (in_store) --l;
                    } else if (s.kind == LayerKind::prelu) {
                        // dx of this thread's rows; the slope gradient (all rows) in 3.
                        float* dx = rows_of(l - 1);
                        prelu_backward_dx(dx, d, outs_[l - 1] + r0 * s.n_out, P + s.slope_off, nr, s.n_out, s.k);
                        d = dx;
                    } else if (s.kind == LayerKind::dropout) {
                        // p = 0: the identity, but d must still reach the buffer the layer
                        // below reads (a dense layer's grad_out, for its dW).
                        float* dx = rows_of(l - 1);
                        if (s.p > 0.0)
                            dropout_backward(dx, d, masks_[l].data() + r0 * s.n_out, nr * s.n_out);
                        else
                            std::copy(d, d + nr * s.n_out, dx);
                        d = dx;
                    } else {
                        float* dx = rows_of(l - 1);
                        activation_backward(dx, d, outs_[l - 1] + r0 * s.n_out, outs_[l] + r0 * s.n_out, nr * s.n_out,
                                            s.act, static_cast<float>(s.alpha), fast_);
                        d = dx;
                    }
                }
                // A bf16 first layer without panels, or on tiles: its dW's dZ0 operand (the
                // owned-panel path of vdpbf16ps makes it in 3, by columns).
                if (on16(0) && (!first_by_panels || tiles)) bf16_dz_operand(0, r0, r1, B);
            }
#pragma omp barrier
            // 3. Weight and bias gradients of the owned panels; each tile reads all B rows.
            bool finite = true;
            // A small W: its tiles by cost share, over all small layers together.
            const double dw_total = fast.shared_dw.empty() ? 0.0 : fast.shared_dw.back().end;
            double start = 0.0;
            for (const FastPath::SharedTile& tile : fast.shared_dw) {
                const auto& s = layers_[tile.layer];
                if (share_owner(start, tile.end, dw_total, team) == t) {
                    float* db = s.use_bias ? G + s.b_off : nullptr;
                    const float* dz = fast.grad_out[tile.layer].data();
                    if (on16(tile.layer))
                        finite &= bf16_dw_tile(tile.layer, G + s.w_off, db, B, tile.o0, tile.rows, tile.p);
                    else
                        finite &= avx512::dw_tile(G + s.w_off, db, dz,
                                                  tile.layer == 0 ? batch_x_.data() : outs_[tile.layer - 1], B, s.n_in,
                                                  s.n_out, tile.o0, tile.rows, tile.p);
                }
                start = tile.end;
            }
            // PReLU slope gradients: all rows in row order (the layer-by-layer bits), a thread a layer.
            for (size_t l = 0, j = 0; l < L; ++l) {
                const auto& s = layers_[l];
                if (s.kind != LayerKind::prelu || static_cast<int>(j++ % static_cast<size_t>(team)) != t) continue;
                prelu_slope_gradient(G + s.slope_off, fast.grad_out[l].data(), outs_[l - 1], B, s.n_out, s.k);
                finite &= all_finite(G + s.slope_off, s.k);
            }
            for (size_t l : fast.dense_layers) {
                const auto& s = layers_[l];
                if (!owns_panels(s)) continue;
                const float* x_in = l == 0 ? batch_x_.data() : outs_[l - 1];
                const idx npan_in = avx512::panel_count(s.n_in);
                // A large W: the owned panels' rows (the same thread updates them in 4, with
                // dW still in its cache), in blocks of up to 14 rows (not per 32-row panel:
                // 11 + 11 + 10-row tiles ran measurably slower than 13-14-row ones).
                idx q0, q1;
                owned(avx512::panel_count(s.n_out), &q0, &q1);
                if (l == 0 && fast.packed_first) {
                    // Straight into the packed gradient, panel by panel (so the update in 4
                    // finds it by the same block as W and the moments), 14 inputs a tile:
                    // each panel's dZ columns (B x 32) stay in L1 while X streams by.
                    const idx blocks = avx512::row_block_count(s.n_in);
                    for (idx q = q0; q < q1; ++q) {
                        float* gq = fast.first_grad() + q * avx512::kPanel * s.n_in;
                        for (idx i = 0; i < blocks; ++i) {
                            idx i0;
                            int rows;
                            avx512::row_block(s.n_in, i, &i0, &rows);
                            finite &= avx512::dw_packed_tile(gq, fast.grad_out[0].data(), x_in, B, s.n_in, s.n_out, i0,
                                                             rows, q);
                        }
                        if (s.use_bias)
                            finite &= column_sums(G + s.b_off, fast.grad_out[0].data(), B, s.n_out, q * avx512::kPanel,
                                                  static_cast<int>(std::min(avx512::kPanel, s.n_out - q * avx512::kPanel)));
                    }
                    continue;
                }
                const idx o_lo = q0 * avx512::kPanel, o_rows = std::min(q1 * avx512::kPanel, s.n_out) - o_lo;
                const int dw_rows = on16(l) ? tile_rows : avx512::kTileRows;
                const idx i0 = 0, i1 = o_rows > 0 ? avx512::row_block_count(o_rows, dw_rows) : 0;
                const bool bf16_dw = on16(l);
                if (bf16_dw && l == 0 && !tiles)  // dZ0 as row pairs, the owned outputs' columns only (others: in 2)
                    for (idx p = 0; p < pairs; ++p) {
                        const float* d = fast.grad_out[0].data() + o_lo;
                        avx512::rows_to_bf16_pairs(fast.bf16_operands[0].dz_pairs.data() + p * s.n_out + o_lo,
                                                   d + 2 * p * s.n_out,
                                                   2 * p + 1 < B ? d + (2 * p + 1) * s.n_out : nullptr, o_rows);
                    }
                // The tile order: for a batch whose rows of X overflow half the L2 (AMD Zen 5:
                // 1 MB per core; 512 rows of 784 floats are 1.6 MB) input panel by input
                // panel, so that the panel's column strip of X (B x 32 floats) is read from
                // L1/L2 by all the row blocks in turn; otherwise row block by row block, which keeps
                // the block's dZ columns in L1 (measured on Zen 5, one thread, 784 x 256: at
                // batch 512 the panel order takes 477-481 us against 546-600; at 32 and 128
                // the block order is 3% faster or equal). Each tile is computed whole, so
                // the order changes no result.
                const bool panels_outer = B * s.n_in * idx(sizeof(float)) > (idx(1) << 19);
                const idx n_tiles = (i1 - i0) * npan_in;
                for (idx tile = 0; tile < n_tiles; ++tile) {
                    const idx i = i0 + (panels_outer ? tile % (i1 - i0) : tile / npan_in);
                    const idx p = panels_outer ? tile / (i1 - i0) : tile % npan_in;
                    idx o0;
                    int mr;
                    avx512::row_block(o_rows, i, &o0, &mr, dw_rows);
                    finite &= bf16_dw ? bf16_dw_tile(l, G + s.w_off, s.use_bias ? G + s.b_off : nullptr, B,
                                                     o_lo + o0, mr, p)
                                      : avx512::dw_tile(G + s.w_off, s.use_bias ? G + s.b_off : nullptr,
                                                        fast.grad_out[l].data(), x_in, B, s.n_in, s.n_out, o_lo + o0,
                                                        mr, p);
                }
            }
            if (!finite) bad_grad.store(true, std::memory_order_relaxed);
            if (tiles) bf16_thread_done();  // this step's last product on this thread
#pragma omp barrier
            // Data-parallel: sum dW (and the flags) across processes on the calling thread
            // (the one MPI_THREAD_FUNNELED allows); the barrier holds the others until the
            // sum is in.
            if (reducer_) {
#pragma omp master
                {
                    try {
                        verdict = reduce_step(bad_loss.load(), bad_grad.load());
                    } catch (...) {
                        reduce_error = std::current_exception();
                    }
                }
#pragma omp barrier
            }
            const bool apply = reducer_ ? verdict.ok() && !reduce_error
                                        : !bad_loss.load(std::memory_order_relaxed) &&
                                              !bad_grad.load(std::memory_order_relaxed);
            // 4. The update: a large W's owned panels; the small layers' panels and the rest
            // of the parameters by cost share.
            if (apply) {
                idx item = 0;
                for (size_t l : fast.dense_layers) {
                    const idx npan = avx512::panel_count(layers_[l].n_out);
                    if (owns_panels(layers_[l])) {
                        idx q0, q1;
                        owned(npan, &q0, &q1);
                        for (idx q = q0; q < q1; ++q) update_item(item + q, opt, adam);
                    }
                    item += npan;
                }
                const double update_total = fast.shared_updates.back().second;
                double from = 0.0;
                for (const auto& [shared_item, end] : fast.shared_updates) {
                    if (share_owner(from, end, update_total, team) == t) update_item(shared_item, opt, adam);
                    from = end;
                }
            }
        }

        ++train_forwards;
        double loss = 0.0;
        for (int t = 0; t < nt; ++t) {
            loss += part_loss[t];
            if (correct) *correct += part_correct[t];
        }
        if (reducer_ && (reduce_error || !verdict.ok())) {
            --opt_step;  // nothing was updated
            if (reduce_error) std::rethrow_exception(reduce_error);
            throw_verdict(verdict);
        }
        if (bad_loss.load() || bad_grad.load()) {
            --opt_step;  // nothing was updated
            throw DivergenceError(bad_loss.load() ? "the loss is not finite" : "a gradient is not finite");
        }
        fast.packed_ok = true;
        return loss;
    }
}

template double Network<float>::region_train_step(const float*, const Targets<float>&, const std::int64_t*, idx,
                                                 const OptimizerConfig&, idx*, idx);
template double Network<double>::region_train_step(const double*, const Targets<double>&, const std::int64_t*, idx,
                                                  const OptimizerConfig&, idx*, idx);

}  // namespace pynn
