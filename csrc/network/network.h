// A feed-forward network over flat buffers (llm.c style): one allocation each for the
// parameters, their gradients and the optimizer state; layers hold offsets into them.
// Activations live in a workspace sized for the largest batch seen, so the steady
// state of training allocates nothing. Defined in network.cpp (layers, forward, backward,
// steps, the epoch), buffers.cpp (allocations), fast_path.cpp and region_step.cpp (the
// float32 AVX-512 path, whose state is a FastPath: network/fast_path.h), step_plan.cpp
// (which step and kernels run), bf16_products.cpp and train_epoch_reduced.cpp. Uses
// dispatch/ and kernels/.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "kernels/activations.h"
#include "aligned.h"
#include "common.h"
#include "dispatch/plan.h"
#include "kernels/avx512.h"
#include "kernels/avx512_bf16.h"
#include "kernels/losses.h"
#include "network/fast_path.h"
#include "network/reducer.h"
#include "kernels/optimizers.h"

namespace pynn {

enum class LayerKind : int { dense, activation, prelu, dropout };

struct LayerSpec {
    LayerKind kind;
    idx n_in = 0, n_out = 0;  // widths of the layer's input and output
    bool use_bias = true;     // dense
    Act act = Act::identity;  // activation
    double alpha = 0.0;       // LeakyReLU slope / ELU alpha
    idx k = 1;                // prelu: number of slopes (1 or n_out)
    double p = 0.0;           // dropout
    idx w_off = 0, b_off = 0, slope_off = 0;  // offsets into the parameter buffer
};

// An activation a dense layer's store can apply (epilogue.h): its derivative follows
// from the sign of its output (relu; leaky relu with alpha >= 0; identity).
bool store_activation(const LayerSpec& s, EpilogueAct* act);

// Targets of one call: exactly one of labels (B) and dense (B,C); weights optional.
template <typename T>
struct Targets {
    const std::int32_t* labels = nullptr;
    const T* dense = nullptr;
    const T* weights = nullptr;
};

struct EpochStats {
    double loss_sum = 0.0;  // sum over batches of (batch loss * batch rows)
    idx rows = 0;           // rows trained on
    idx correct = 0;        // argmax (or binary, per element) hits, for accuracy
};

template <typename T>
class Network {
public:
    Network(idx n_inputs, std::uint64_t seed);

    void add_dense(idx n_out, bool use_bias);
    void add_activation(Act act, double alpha);
    void add_prelu(idx k);
    void add_dropout(double p);
    void set_loss(Loss loss) { loss_ = loss; }
    // Allocates the parameter, gradient buffers (zeros); no layer can be added after.
    void finalize();

    idx n_inputs() const { return n_inputs_; }
    idx n_outputs() const { return layers_.empty() ? n_inputs_ : layers_.back().n_out; }
    idx n_params() const { return static_cast<idx>(params_.size()); }
    const std::vector<LayerSpec>& layers() const { return layers_; }
    Loss loss() const { return loss_; }
    T* params() { return params_.data(); }
    T* grads() { return grads_.data(); }

    // Optimizer state, one value per parameter, allocated on first use:
    //   first moment:  SGD's momentum buffer; Adam's m (torch's exp_avg);
    //   second moment: Adam's v (torch's exp_avg_sq); unused by SGD.
    Buffer<T>& first_moment() { return optimizer_state(first_moment_); }
    Buffer<T>& second_moment() { return optimizer_state(second_moment_); }
    std::int64_t opt_step = 0;           // updates done with the current optimizer state
    std::uint64_t train_forwards = 0;   // training forward passes so far (dropout's step)
    std::uint64_t seed;
    void reset_optimizer_state();
    // The optimizer the state buffers belong to; an update of another kind starts them
    // anew. Settable so a saved state can be restored for the optimizer that wrote it.
    OptKind optimizer_kind() const { return opt_kind_; }
    void set_optimizer_kind(OptKind kind) { opt_kind_ = kind; }

    // X (B, n_in) -> out (B, n_out): copies the network output into out.
    void predict(T* out, const T* X, idx B, bool training);
    // Forward in training mode + loss + backward; fills grads; returns the batch loss.
    double loss_and_gradients(const T* X, const Targets<T>& y, idx B, idx* correct);
    // Forward (training mode), then backward from a given dL/doutput (B, n_out).
    // Replays the last training forward (same dropout masks) so X's activations are
    // in the workspace, then backpropagates d_out. For losses computed outside the core.
    void backward_from(const T* X, const T* d_out, idx B);
    // One optimizer step from the gradients now in the buffer (after backward_from).
    void apply_update(const OptimizerConfig& opt);
    // Forward, loss, backward and one optimizer update. Throws DivergenceError (before
    // touching the parameters) when the loss or a gradient is not finite.
    double train_step(const T* X, const Targets<T>& y, idx B, const OptimizerConfig& opt, idx* correct);
    // One epoch over the N rows of X (any number, n_in) that perm (N) lists, in its order,
    // batch by batch, no allocation and no Python per batch. should_stop is polled between batches.
    // With a reducer, X is this process's shard of a data-parallel run and every step
    // applies the update of the union of all processes' batches; the stats are the
    // global ones (network/train_epoch_reduced.cpp).
    EpochStats train_epoch(const T* X, const Targets<T>& y, idx N, const std::int64_t* perm,
                           idx batch_size, const OptimizerConfig& opt,
                           const std::function<bool()>& should_stop, Reducer* reducer = nullptr);

    // What each dense layer of fit's step runs on for batches of B rows under the current
    // settings (kernel, precision, threads): the choice train_epoch makes, for `pynn info
    // --plan` and Sequential.kernel_plan.
    struct LayerPlan {
        size_t layer;
        idx n_in, n_out;
        Matmul kernel;
        bool owns_panels;  // its W's panels stay with one thread each (else: split by rows)
        int threads;
    };
    std::vector<LayerPlan> kernel_plan(idx B) const;
    // The bf16 kernel fit's step and predict give this network's bf16 layers under the
    // current settings (the plan's, under "medium", for a network the one-region step takes),
    // or Matmul::avx512 where none: the one rule train_epoch, predict and kernel_plan follow.
    Matmul medium_bf16_kernel() const;

    std::mutex busy;  // one call at a time per model; the bindings lock it without the GIL

private:
    idx n_inputs_;
    Loss loss_ = Loss::softmax_cross_entropy;
    std::vector<LayerSpec> layers_;
    Buffer<T> params_, grads_, first_moment_, second_moment_;
    bool finalized_ = false;

    // Workspace, sized for capacity_ rows: acts_[l] is layer l's output, masks_[l] the
    // dropout scales, d0_/d1_ ping-pong gradient buffers, batch_x_/batch_y_ gathered rows.
    idx capacity_ = 0;
    idx widest_ = 0;  // the widest layer (or input): the row width of d0_/d1_
    std::vector<Buffer<T>> acts_, masks_;
    Buffer<T> d0_, d1_, batch_x_, batch_dense_, batch_w_;
    std::vector<std::int32_t> batch_labels_;

    // The workspace for batches of B rows: the layers' outputs (all predict needs) and, with
    // training, dropout's masks, the gradient ping-pong buffers and the gathered batch.
    void reserve(idx B, bool training = true);
    idx training_rows_ = 0;  // the rows the training part of the workspace is sized for
    Buffer<T>& optimizer_state(Buffer<T>& buf);  // buf, sized for the parameters (zeros) if it was not

    // Data-parallel steps (network/train_epoch_reduced.cpp). The gradient buffer carries
    // kReduceTail values after the parameters' gradients: this process's step flags (loss
    // not finite, gradient not finite, asked to stop), summed with the gradients in the
    // step's one reduction, so every process takes the same decision.
    static constexpr idx kReduceTail = 3;
    struct StepVerdict {
        T bad_loss = 0, bad_grad = 0, stopped = 0;  // processes that flagged each
        bool ok() const { return bad_loss == 0 && bad_grad == 0 && stopped == 0; }
    };
    Reducer* reducer_ = nullptr;    // set by train_epoch for its duration
    bool step_stop_ = false;        // this process was asked to stop before this step
    std::uint64_t dropout_stream_ = 0;  // rank << 32: each process draws its own dropout masks
    // Sums the gradients and the flags across processes; region_train_step calls it on one
    // thread between its dW and update phases, reduced_train_step between backward and update.
    StepVerdict reduce_step(bool bad_loss, bool bad_grad);
    // Throws what a verdict other than ok() means (the same error on every process).
    void throw_verdict(const StepVerdict& v) const;
    EpochStats reduced_epoch(const T* X, const Targets<T>& y, idx N, const std::int64_t* perm, idx batch_size,
                             const OptimizerConfig& opt, const std::function<bool()>& should_stop, bool one_region);
    // The layer-by-layer step under a reducer: B local rows (0: a shard that ran out) of a
    // step of `total` rows over all processes.
    double reduced_train_step(const T* X, const Targets<T>& y, idx B, idx total, const OptimizerConfig& opt,
                              idx* correct);

    // The float32 fast path's state (network/fast_path.h): made by the constructor for
    // T = float, null for double.
    std::unique_ptr<FastPath> fast_path_;
    // The parameters may have changed (an update, or Python writing into a parameter view
    // between calls): the fast path's packed W is rebuilt on its next use.
    void invalidate_packed() {
        if (fast_path_) fast_path_->packed_ok = false;
    }
    bool fast_ = false;          // this forward/backward uses the AVX-512 kernels
    bool in_epoch_ = false;      // inside train_epoch: no Python between steps
    void pack_weights();
    void pack_layout();
    // The optimizer update with the weight re-pack done as it goes (float32 fast path), one work
    // item per 32-output panel of each dense W plus one for all other parameters; false
    // if not applicable.
    bool update_and_repack(const OptimizerConfig& opt);
    void update_item(idx t, const OptimizerConfig& opt, const AdamCoefficients<float>& adam);
    idx update_item_count();
    // FastPath::packed_first: whether this epoch keeps the first layer packed, setting it
    // up (W, its gradient and moments packed) if so; and writing them back (fast_path.cpp).
    bool begin_packed_first(const OptimizerConfig& opt);
    void end_packed_first();

    // The training step of train_epoch as one parallel region (float32, AVX-512, any layers
    // after a first Dense): csrc/network/region_step.cpp; whether a network takes it
    // and on how many threads: step_plan.cpp.
    bool region_step_eligible() const;
    // Threads of the one-region step for B rows: small steps are not worth a second thread.
    int region_step_threads(idx B) const;
    // norm_rows: the rows the loss's mean is over (default B; under a reducer, the step's
    // rows over all processes).
    double region_train_step(const T* X, const Targets<T>& y, const std::int64_t* rows, idx B,
                            const OptimizerConfig& opt, idx* correct, idx norm_rows = 0);
    // What the one-region step derives from the layers alone, made once by reserve_region_step() (and
    // again after reserve() grows the workspace): fast_path_'s grad_out sized for capacity_ rows.
    void reserve_region_step();
    // A dense layer whose W is large keeps its work on the threads that own its panels
    // (network/region_step.cpp); for a small one an even split of the rows matters more.
    static bool owns_panels(const LayerSpec& s) { return s.n_in * s.n_out * idx(sizeof(T)) > 256 * 1024; }
    // Layers whose output gradient the one-region step keeps for all rows (FastPath::grad_out):
    // a dense layer's dW and a PReLU's slope gradient read them after the rows' barrier.
    static bool keeps_output_gradient(const LayerSpec& s) {
        return s.kind == LayerKind::dense || s.kind == LayerKind::prelu;
    }
    // The layers whose products a "medium" epoch runs on bfloat16 operands (fast_path.h).
    static bool bf16_layer(const LayerSpec& s) {
        return s.kind == LayerKind::dense && s.n_in * s.n_out >= kBf16MinWeights;
    }
    // Under the plan's bf16 kernel for this network (medium_bf16_kernel), sizes the operands
    // of the bf16 layers and packs their W: for fit's epoch (training) or for predict (W's
    // forward panels and the input's rows only). False if there is no such kernel or layer.
    bool begin_bf16(bool training);
    void size_bf16_operands(size_t l, bool training);
    // Y (B, n_out) = act(X W^T + b) of dense layer l on bf16 operands (the plan's kernel).
    void dense_forward_bf16(size_t l, T* Y, const T* X, idx B, EpilogueAct act, float alpha);
    // Packs W of bf16 layer l, panel q, into its bf16 layouts (training: both; else the
    // forward panels only).
    void pack_bf16_panel(size_t l, idx q, bool training = true);
    // The products of bf16 layer l on the kernel fast_path_->bf16_kernel names, over its bf16
    // operands (network/bf16_products.cpp): the forward of rows [r0, r0 + rows) x output
    // panel q, or of rows [r0, r0 + nr); dX of rows [r0, r0 + nr) from dZ's rows; dZ's rows
    // [r0, r1) of B as dW's operand; dW rows [o0, o0 + rows) x input panel p (false when a
    // value it wrote is inf or NaN).
    void bf16_forward_tile(size_t l, T* Y, const T* bias, EpilogueAct act, float alpha, idx r0, int rows, idx q);
    void bf16_forward_rows(size_t l, T* Y, const T* bias, EpilogueAct act, float alpha, idx r0, idx nr);
    void bf16_dx_rows(size_t l, T* dX, const T* y_prev, EpilogueAct act, float alpha, idx r0, idx nr);
    void bf16_dz_operand(size_t l, idx r0, idx r1, idx B);
    bool bf16_dw_tile(size_t l, T* dW, T* db, idx B, idx o0, int rows, idx p);
    void bf16_thread_done();  // a thread's last bf16 product of a step (AMX: release the tiles)
    // Gathers row rows[r] of the targets (and of X, with_x) into row r of the batch workspace.
    void gather_row(const T* X, const Targets<T>& y, const std::int64_t* rows, idx r, bool with_x = true);
    // Gathers rows[0 .. B) into the batch workspace (threads as the call's); the batch's targets.
    Targets<T> gather_batch(const T* X, const Targets<T>& y, const std::int64_t* rows, idx B);
    // Starts the optimizer state anew when opt is of another kind than the state's.
    void match_optimizer_state(const OptimizerConfig& opt);
    // apply_update without its finiteness check, for a caller that has made it (a reduced
    // step checks the summed gradient in reduce_step).
    void update_parameters(const OptimizerConfig& opt);
    std::vector<const T*> outs_;  // output of each layer in the last forward
    OptKind opt_kind_ = OptKind::sgd;
    const T* forward(const T* X, idx B, bool training);
    void backward(const T* X, const T* d_out, idx B);
    double loss_forward_backward(T* d_out, const T* out, const Targets<T>& y, idx B, idx* correct);
};

}  // namespace pynn
