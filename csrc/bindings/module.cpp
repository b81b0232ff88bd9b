// pybind11 module pynn._core: the only file of the core that knows Python.
// Every pointer handed to the core is checked here (shapes, dtypes, index ranges), so a
// bad argument is a ValueError and never an out-of-bounds access, whatever the Python
// layer above did. The GIL is released around all numeric work.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/activations.h"
#include "dispatch/cpu.h"
#include "dispatch/plan.h"
#include "kernels/tile_bf16.h"
#include "dispatch/kernel_switch.h"
#include "dispatch/flops_probe.h"
#include "network/network.h"
#include "network/epoch_order.h"
#include "dispatch/threads.h"

namespace py = pybind11;
using namespace pynn;
namespace pynn { void bind_tile_kernels(py::module_& m); }  // csrc/bindings/tile_kernels.cpp (test-only)
namespace pynn { void bind_distributed(py::module_& m); }   // csrc/bindings/distributed.cpp

extern "C" {
char* scipy_openblas_get_config(void);
char* scipy_openblas_get_corename(void);
int scipy_openblas_get_num_threads(void);
}

namespace {

Act parse_act(const std::string& name) {
    static const std::pair<const char*, Act> table[] = {
        {"identity", Act::identity}, {"sigmoid", Act::sigmoid}, {"tanh", Act::tanh},
        {"relu", Act::relu},         {"leaky_relu", Act::leaky_relu}, {"elu", Act::elu},
        {"gelu", Act::gelu},         {"silu", Act::silu},       {"softplus", Act::softplus}};
    for (const auto& [n, a] : table)
        if (name == n) return a;
    throw InputError("unknown activation '" + name +
                     "'; expected one of identity, sigmoid, tanh, relu, leaky_relu, elu, gelu, silu, softplus");
}

Loss parse_loss(const std::string& name) {
    if (name == "softmax_cross_entropy") return Loss::softmax_cross_entropy;
    if (name == "binary_cross_entropy") return Loss::binary_cross_entropy;
    if (name == "mse") return Loss::mse;
    if (name == "none") return Loss::none;
    throw InputError("unknown loss '" + name + "'; expected softmax_cross_entropy, binary_cross_entropy, mse or none");
}

// C order, converted to T, and aligned: NumPy copies an array that is not (e.g. a view at
// an odd byte offset, np.frombuffer(buf[1:])). The kernels dereference T* directly and a
// misaligned T* is undefined behaviour (UBSan reports it; vectorized loads may fault).
constexpr int kArrayFlags = py::array::c_style | py::array::forcecast | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
template <typename T>
using Array = py::array_t<T, kArrayFlags>;

template <typename T>
void check_matrix(const Array<T>& a, idx cols, const char* name) {
    if (a.ndim() != 2) throw InputError(std::string(name) + " must be 2-D, got " + std::to_string(a.ndim()) + "-D");
    if (a.shape(1) != cols)
        throw InputError(std::string(name) + " must have " + std::to_string(cols) + " columns, got " +
                         std::to_string(a.shape(1)));
}

// Optional targets: labels (N,) int32 in [0, C), dense (N, C), weights (N,).
template <typename T>
struct TargetArrays {
    std::optional<Array<std::int32_t>> labels;
    std::optional<Array<T>> dense;
    std::optional<Array<T>> weights;

    Targets<T> view(idx N, idx C, bool need_labels_or_dense) const {
        Targets<T> t;
        if (labels) {
            if (labels->ndim() != 1 || labels->shape(0) != N) throw InputError("labels must have shape (n_samples,)");
            const std::int32_t* p = labels->data();
            for (idx i = 0; i < N; ++i)
                if (p[i] < 0 || p[i] >= C) throw InputError("label " + std::to_string(p[i]) + " out of range [0, " + std::to_string(C) + ")");
            t.labels = p;
        }
        if (dense) {
            if (dense->ndim() != 2 || dense->shape(0) != N || dense->shape(1) != C)
                throw InputError("targets must have shape (n_samples, " + std::to_string(C) + ")");
            t.dense = dense->data();
        }
        if (weights) {
            if (weights->ndim() != 1 || weights->shape(0) != N) throw InputError("sample weights must have shape (n_samples,)");
            t.weights = weights->data();
        }
        if (need_labels_or_dense && !t.labels && !t.dense) throw InputError("targets are required");
        if (t.labels && t.dense) throw InputError("give either labels or dense targets, not both");
        return t;
    }
};

const char* opt_kind_name(OptKind k) {
    return k == OptKind::sgd ? "sgd" : k == OptKind::adam ? "adam" : "adamw";
}

OptimizerConfig make_opt(const std::string& kind, double lr, double momentum, bool nesterov, double weight_decay,
                         double beta1, double beta2, double eps) {
    OptimizerConfig c;
    if (kind == "sgd") c.kind = OptKind::sgd;
    else if (kind == "adam") c.kind = OptKind::adam;
    else if (kind == "adamw") c.kind = OptKind::adamw;
    else throw InputError("unknown optimizer '" + kind + "'; expected sgd, adam or adamw");
    // The Python optimizers check these too; here they guard the core itself (a NaN
    // learning rate would silently turn every parameter into NaN).
    auto require = [](bool ok, const std::string& what, double got) {
        if (!ok) throw InputError(what + ", got " + std::to_string(got));
    };
    require(std::isfinite(lr) && lr > 0, "lr must be finite and > 0", lr);
    require(std::isfinite(momentum) && momentum >= 0, "momentum must be finite and >= 0", momentum);
    require(std::isfinite(weight_decay) && weight_decay >= 0, "weight_decay must be finite and >= 0", weight_decay);
    require(beta1 >= 0 && beta1 < 1, "beta1 must be in [0, 1)", beta1);
    require(beta2 >= 0 && beta2 < 1, "beta2 must be in [0, 1)", beta2);
    require(std::isfinite(eps) && eps > 0, "eps must be finite and > 0", eps);
    c.lr = lr; c.momentum = momentum; c.nesterov = nesterov; c.weight_decay = weight_decay;
    c.beta1 = beta1; c.beta2 = beta2; c.eps = eps;
    return c;
}

// Elements of a view of `shape`: every dimension >= 0 and no int64 overflow.
idx view_size(const std::vector<idx>& shape) {
    idx size = 1;
    for (idx s : shape)
        if (s < 0 || __builtin_mul_overflow(size, s, &size)) throw InputError("view shape out of range");
    return size;
}

// A view into one of the network's buffers that keeps the network alive.
template <typename T>
py::array_t<T> view_of(T* base, idx offset, std::vector<idx> shape, py::handle owner) {
    std::vector<py::ssize_t> sh(shape.begin(), shape.end());
    return py::array_t<T>(sh, base + offset, owner);
}

// Polled between batches: every ~20 ms take the GIL and let Python run its signal
// handlers, so Ctrl-C stops fit quickly without a Python call per batch.
std::function<bool()> make_interrupt_check() {
    auto last = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    return [last]() {
        const auto now = std::chrono::steady_clock::now();
        if (now - *last < std::chrono::milliseconds(20)) return false;
        *last = now;
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        return false;
    };
}

// The one way the bindings enter numeric code: the GIL released (other Python threads
// run; released *before* waiting for the lock, or a train_epoch that holds the lock and
// takes the GIL to poll for Ctrl-C would deadlock), the model's lock held (one call at a
// time per model), and this call's thread count in force.
template <typename Net, typename F>
void in_core(Net& n, F&& f) {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(n.busy);
    ThreadScope threads(effective_threads());
    f();
}

template <typename T>
void bind_network(py::module_& m, const char* name) {
    using Net = Network<T>;
    py::class_<Net>(m, name)
        .def(py::init([](idx n_inputs, std::uint64_t seed) { return new Net(n_inputs, seed); }),
             py::arg("n_inputs"), py::arg("seed"))
        .def("add_dense", &Net::add_dense, py::arg("n_out"), py::arg("use_bias"))
        .def("add_activation", [](Net& n, const std::string& act, double alpha) { n.add_activation(parse_act(act), alpha); },
             py::arg("name"), py::arg("alpha") = 0.0)
        .def("add_prelu", &Net::add_prelu, py::arg("num_parameters"))
        .def("add_dropout", &Net::add_dropout, py::arg("p"))
        .def("set_loss", [](Net& n, const std::string& loss) { n.set_loss(parse_loss(loss)); })
        .def("finalize", &Net::finalize)
        .def_property_readonly("n_inputs", &Net::n_inputs)
        .def_property_readonly("n_outputs", &Net::n_outputs)
        .def_property_readonly("n_params", &Net::n_params)
        .def_readwrite("opt_step", &Net::opt_step)
        .def_property("optimizer_kind",
            [](const Net& n) { return std::string(opt_kind_name(n.optimizer_kind())); },
            [](Net& n, const std::string& kind) { n.set_optimizer_kind(make_opt(kind, 1.0, 0, false, 0, 0.9, 0.999, 1e-8).kind); })
        .def_readwrite("train_forwards", &Net::train_forwards)
        .def_readonly("seed", &Net::seed)
        .def("layer_offsets", [](Net& n) {
            py::list out;
            for (const auto& s : n.layers()) {
                py::dict d;
                d["kind"] = static_cast<int>(s.kind);
                d["n_in"] = s.n_in; d["n_out"] = s.n_out;
                d["w_off"] = s.w_off; d["b_off"] = s.b_off; d["slope_off"] = s.slope_off; d["k"] = s.k;
                out.append(d);
            }
            return out;
        })
        .def("param_view", [](py::object self, idx offset, std::vector<idx> shape) {
            Net& n = self.cast<Net&>();
            const idx size = view_size(shape);
            if (offset < 0 || offset > n.n_params() || size > n.n_params() - offset) throw InputError("view out of range");
            return view_of<T>(n.params(), offset, shape, self);
        })
        .def("grad_view", [](py::object self, idx offset, std::vector<idx> shape) {
            Net& n = self.cast<Net&>();
            const idx size = view_size(shape);
            if (offset < 0 || offset > n.n_params() || size > n.n_params() - offset) throw InputError("view out of range");
            return view_of<T>(n.grads(), offset, shape, self);
        })
        .def("optimizer_buffer", [](py::object self, int which) {
            Net& n = self.cast<Net&>();
            if (which != 0 && which != 1) throw InputError("which must be 0 or 1");
            // opt_buf allocates on first use: under the lock, or a train_step running in
            // another thread could be writing the vector while it is reallocated. Once
            // allocated it keeps its size, so the view stays valid.
            Buffer<T>* buf;
            {
                py::gil_scoped_release release;
                std::lock_guard<std::mutex> lock(n.busy);
                buf = &n.opt_buf(which);
            }
            return view_of<T>(buf->data(), 0, {static_cast<idx>(buf->size())}, self);
        })
        .def("kernel_plan", [](const Net& n, idx batch_size) {
            ThreadScope threads(effective_threads());
            py::list out;
            for (const auto& p : n.kernel_plan(batch_size)) {
                py::dict d;
                d["layer"] = p.layer;
                d["n_in"] = p.n_in;
                d["n_out"] = p.n_out;
                d["kernel"] = matmul_name(p.kernel);
                d["split"] = p.owns_panels ? "panels" : "rows";
                d["threads"] = p.threads;
                out.append(d);
            }
            return out;
        }, py::arg("batch_size"))
        .def("reset_optimizer_state", [](Net& n) {
            // Release the GIL before waiting for the lock: a train_epoch holding the lock
            // takes the GIL to poll for Ctrl-C, so waiting with the GIL held deadlocks.
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(n.busy);
            n.reset_optimizer_state();
        })
        .def("predict", [](Net& n, Array<T> X, bool training) {
            check_matrix(X, n.n_inputs(), "X");
            const idx B = X.shape(0);
            Array<T> out({static_cast<py::ssize_t>(B), static_cast<py::ssize_t>(n.n_outputs())});
            T* o = out.mutable_data();
            const T* x = X.data();
            in_core(n, [&] { n.predict(o, x, B, training); });
            return out;
        }, py::arg("X"), py::arg("training") = false)
        .def("loss_and_gradients", [](Net& n, Array<T> X, TargetArrays<T> y) {
            check_matrix(X, n.n_inputs(), "X");
            const idx B = X.shape(0);
            Targets<T> t = y.view(B, n.n_outputs(), true);
            idx correct = 0;
            double loss;
            in_core(n, [&] { loss = n.loss_and_gradients(X.data(), t, B, &correct); });
            return py::make_tuple(loss, correct);
        })
        .def("train_step", [](Net& n, Array<T> X, TargetArrays<T> y, const OptimizerConfig& opt) {
            check_matrix(X, n.n_inputs(), "X");
            const idx B = X.shape(0);
            Targets<T> t = y.view(B, n.n_outputs(), true);
            idx correct = 0;
            double loss;
            in_core(n, [&] { loss = n.train_step(X.data(), t, B, opt, &correct); });
            return py::make_tuple(loss, correct);
        })
        .def("backward_from", [](Net& n, Array<T> X, Array<T> d_out) {
            check_matrix(X, n.n_inputs(), "X");
            check_matrix(d_out, n.n_outputs(), "d_out");
            if (d_out.shape(0) != X.shape(0)) throw InputError("d_out must have one row per row of X");
            in_core(n, [&] { n.backward_from(X.data(), d_out.data(), X.shape(0)); });
        })
        .def("apply_update", [](Net& n, const OptimizerConfig& opt) {
            in_core(n, [&] { n.apply_update(opt); });
        })
        .def("train_epoch", [](Net& n, Array<T> X, TargetArrays<T> y, Array<std::int64_t> perm,
                               idx batch_size, const OptimizerConfig& opt, bool check_interrupts,
                               Reducer* reducer) {
            check_matrix(X, n.n_inputs(), "X");
            const idx N = X.shape(0);
            Targets<T> t = y.view(N, n.n_outputs(), true);
            // perm lists the rows of the epoch in order: a permutation of all rows, or of a
            // subset (validation_split trains on some rows of X without copying them out).
            if (perm.ndim() != 1) throw InputError("perm must be a 1-D array of row indices");
            const idx rows = perm.shape(0);
            const std::int64_t* p = perm.data();
            for (idx i = 0; i < rows; ++i)
                if (p[i] < 0 || p[i] >= N) throw InputError("perm holds an index out of range");
            if (batch_size < 1) throw InputError("batch_size must be >= 1");
            auto check = check_interrupts ? make_interrupt_check() : std::function<bool()>();
            EpochStats s;
            in_core(n, [&] { s = n.train_epoch(X.data(), t, rows, p, batch_size, opt, check, reducer); });
            return py::make_tuple(s.loss_sum, s.rows, s.correct, s.batches);
        }, py::arg("X"), py::arg("y"), py::arg("perm"), py::arg("batch_size"), py::arg("optimizer"),
           py::arg("check_interrupts") = true, py::arg("reducer") = nullptr);
}

// True when every element of x is finite: one vectorized pass on the call's threads with the
// GIL released, no temporary. NumPy's isfinite(X).all() on a 60,000 x 784 training set
// built a 47 MB boolean array and took ~0.1 s -- a fifth of a training epoch.
template <typename T>
bool array_all_finite(Array<T> x) {
    py::gil_scoped_release release;
    ThreadScope threads(effective_threads());
    return all_finite(x.data(), static_cast<idx>(x.size()));
}

template <typename T>
Array<T> apply_activation(Array<T> x, const std::string& name, double alpha) {
    const Act act = parse_act(name);
    Array<T> y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    const idx n = x.size();
    const T* xp = x.data();
    T* yp = y.mutable_data();
    py::gil_scoped_release release;
    ThreadScope threads(effective_threads());
    activation_forward(yp, xp, n, act, static_cast<T>(alpha));
    return y;
}

template <typename T>
Array<T> apply_activation_grad(Array<T> x, const std::string& name, double alpha) {
    const Act act = parse_act(name);
    std::vector<py::ssize_t> shape(x.shape(), x.shape() + x.ndim());
    Array<T> y(shape), ones(shape), dx(shape);
    const idx n = x.size();
    std::fill(ones.mutable_data(), ones.mutable_data() + n, T(1));
    py::gil_scoped_release release;
    ThreadScope threads(effective_threads());
    activation_forward(y.mutable_data(), x.data(), n, act, static_cast<T>(alpha));
    activation_backward(dx.mutable_data(), ones.data(), x.data(), y.data(), n, act, static_cast<T>(alpha));
    return dx;
}

}  // namespace

namespace pybind11::detail {
// TargetArrays from a Python tuple (labels_or_None, dense_or_None, weights_or_None).
template <typename T>
struct type_caster<TargetArrays<T>> {
    PYBIND11_TYPE_CASTER(TargetArrays<T>, _("tuple[labels, dense, weights]"));
    bool load(handle src, bool) {
        if (!py::isinstance<py::tuple>(src)) return false;
        auto t = py::reinterpret_borrow<py::tuple>(src);
        if (t.size() != 3) return false;
        if (!t[0].is_none()) value.labels = t[0].cast<Array<std::int32_t>>();
        if (!t[1].is_none()) value.dense = t[1].cast<Array<T>>();
        if (!t[2].is_none()) value.weights = t[2].cast<Array<T>>();
        return true;
    }
    static handle cast(const TargetArrays<T>&, return_value_policy, handle) { return py::none().release(); }
};
}  // namespace pybind11::detail

namespace {
// Loss and hit count of finished outputs (B,C): the training kernels without a gradient
// and without the divergence check (evaluating overflowed outputs is not an error).
template <typename T>
py::tuple evaluate_loss(const std::string& name, Array<T> outputs, TargetArrays<T> y) {
    const Loss kind = parse_loss(name);
    if (kind == Loss::none) throw InputError("loss 'none' has no value");
    if (outputs.ndim() != 2) throw InputError("outputs must be 2-D (n_samples, n_outputs)");
    const idx B = outputs.shape(0), C = outputs.shape(1);
    const Targets<T> t = y.view(B, C, true);
    idx correct = 0;
    double loss;
    {
        py::gil_scoped_release release;
        ThreadScope threads(effective_threads());
        loss = compute_loss<T>(kind, nullptr, outputs.data(), t.labels, t.dense, t.weights, B, C, &correct);
    }
    return py::make_tuple(loss, correct);
}
}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "pynn's C++ core: networks over flat buffers, kernels, optimizers";
    threads_init();
    kernels_init();

    static py::exception<DivergenceError> divergence(m, "DivergenceError", PyExc_FloatingPointError);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const InputError& e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        } catch (const DivergenceError& e) {
            PyErr_SetString(divergence.ptr(), e.what());
        } catch (const AllocationError& e) {
            PyErr_SetString(PyExc_MemoryError, e.what());
        } catch (const Interrupted& e) {
            // A Ctrl-C of this process still pending (another process's stop ended the
            // data-parallel step first) is this same interruption: consume it here, or
            // Python would raise a second KeyboardInterrupt in the caller's handler.
            if (PyErr_CheckSignals() != 0) {
                if (!PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) return;
                PyErr_Clear();
            }
            PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
        }
    });

    py::class_<OptimizerConfig>(m, "OptimizerConfig")
        .def(py::init(&make_opt), py::arg("kind"), py::arg("lr"), py::arg("momentum") = 0.0,
             py::arg("nesterov") = false, py::arg("weight_decay") = 0.0, py::arg("beta1") = 0.9,
             py::arg("beta2") = 0.999, py::arg("eps") = 1e-8)
        .def_property("lr", [](const OptimizerConfig& c) { return c.lr; }, [](OptimizerConfig& c, double lr) {
            if (!(std::isfinite(lr) && lr > 0)) throw InputError("lr must be finite and > 0, got " + std::to_string(lr));
            c.lr = lr;
        });

    bind_network<float>(m, "NetworkF32");
    bind_network<double>(m, "NetworkF64");
    bind_tile_kernels(m);
    bind_distributed(m);

    m.def("activation", &apply_activation<float>, py::arg("x").noconvert(), py::arg("name"), py::arg("alpha") = 0.0);
    m.def("activation", &apply_activation<double>, py::arg("x"), py::arg("name"), py::arg("alpha") = 0.0);
    m.def("activation_grad", &apply_activation_grad<float>, py::arg("x").noconvert(), py::arg("name"), py::arg("alpha") = 0.0);
    m.def("activation_grad", &apply_activation_grad<double>, py::arg("x"), py::arg("name"), py::arg("alpha") = 0.0);
    m.def("loss", &evaluate_loss<float>, py::arg("name"), py::arg("outputs").noconvert(), py::arg("targets"));
    m.def("loss", &evaluate_loss<double>, py::arg("name"), py::arg("outputs"), py::arg("targets"));
    m.def("softmax", [](Array<double> x) {
        // Rows of a 2-D array (or a 1-D vector): exp(x - max) / sum, in double.
        if (x.ndim() != 1 && x.ndim() != 2) throw InputError("softmax expects a 1-D or 2-D array");
        const idx C = x.shape(x.ndim() - 1), R = x.ndim() == 2 ? x.shape(0) : 1;
        Array<double> y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
        if (C == 0) return y;  // empty rows: nothing to normalize (and no x[0] to read)
        const double* xp = x.data();
        double* yp = y.mutable_data();
        for (idx r = 0; r < R; ++r) {
            double mx = xp[r * C];
            for (idx c = 1; c < C; ++c) mx = std::max(mx, xp[r * C + c]);
            double s = 0;
            for (idx c = 0; c < C; ++c) s += (yp[r * C + c] = std::exp(xp[r * C + c] - mx));
            for (idx c = 0; c < C; ++c) yp[r * C + c] /= s;
        }
        return y;
    });

    m.def("epoch_order", [](py::array_t<std::int64_t, py::array::c_style> out, std::uint64_t seed, std::uint64_t epoch) {
        if (out.ndim() != 1) throw InputError("out must be a 1-D int64 array");
        epoch_order(out.mutable_data(), static_cast<idx>(out.shape(0)), seed, epoch);
    }, py::arg("out").noconvert(), py::arg("seed"), py::arg("epoch"),
       "Fill out (n,) with epoch `epoch`'s row order for a model with `seed` (csrc/network/epoch_order.h).");
    m.def("all_finite", &array_all_finite<float>, py::arg("x").noconvert());
    m.def("all_finite", &array_all_finite<double>, py::arg("x").noconvert());
    m.def("set_num_threads", &set_num_threads, py::arg("n"));
    m.def("get_num_threads", &get_num_threads);
    m.def("_thread_settings", []() {
        const ThreadSettings s = thread_settings();
        return py::make_tuple(s.requested, s.openmp, s.openblas);
    }, "(pynn's setting or 0, this thread's OpenMP limit, OpenBLAS's count): what set_num_threads changes.");
    m.def("_restore_thread_settings", [](int requested, int openmp, int openblas) {
        restore_thread_settings({requested, openmp, openblas});
    }, py::arg("requested"), py::arg("openmp"), py::arg("openblas"));
    m.def("cpu_features", &cpu_features);
    m.def("cpu_info", []() {
        const CpuInfo& c = cpu_info();
        py::dict d;
        d["vendor"] = c.vendor;
        d["brand"] = c.brand;
        d["family"] = c.family;
        d["model"] = c.model;
        d["class"] = cpu_class(c);
        d["amx_usable"] = tile::amx_usable();
        return d;
    }, "What the CPU is (vendor, brand, family, model, the class the kernel table is keyed by).");
    m.def("set_bf16_kernel", &set_bf16_kernel, py::arg("name"));
    m.def("_bf16_kernel_table", [](const std::string& vendor, int family, bool avx512, bool avx512_bf16, bool amx) {
        CpuInfo c;
        c.vendor = vendor;
        c.family = family;
        c.avx512 = avx512;
        c.avx512_bf16 = avx512 && avx512_bf16;
        c.amx_bf16 = amx;
        std::string why;
        const Matmul k = table_choice(c, amx, &why);
        return py::make_tuple(cpu_class(c), matmul_name(k), why);
    }, py::arg("vendor"), py::arg("family"), py::arg("avx512"), py::arg("avx512_bf16"), py::arg("amx"),
       "The kernel table's row and choice for a described CPU (tests: every row on any machine).");
    m.def("get_bf16_kernel", []() {
        std::string why;
        const Matmul k = bf16_kernel(&why);
        return py::make_tuple(get_bf16_kernel_setting(), matmul_name(k), why);
    }, "(setting, kernel, why): the pin ('auto' unless set), the kernel 'medium' uses, the reason.");
    m.def("set_kernel", &set_kernel, py::arg("name"),
          "Use 'avx512' (register-blocked float32 kernels), 'blas' (OpenBLAS) or 'auto' (the "
          "default: avx512 where the CPU has it, unless PYNN_DISABLE_AVX512=1 at import).");
    m.def("set_float32_matmul_precision", &set_matmul_precision, py::arg("precision"));
    m.def("get_float32_matmul_precision", &get_matmul_precision);
    m.def("bf16_supported", &bf16_supported);
    m.def("get_kernel", &get_kernel, "The kernel family float32 dense layers use now: 'avx512' or 'blas'.");
    m.def("avx512_supported", &avx512_supported);
    m.def("fma_peak_gflops", [](int threads, double seconds) {
        if (!avx512_supported()) throw InputError("fma_peak_gflops needs a CPU with AVX-512");
        if (threads < 1 || !(seconds > 0.0 && seconds <= 10.0)) throw InputError("threads must be >= 1, seconds in (0, 10]");
        py::gil_scoped_release release;
        return fma_peak_gflops(threads, seconds);
    }, py::arg("threads"), py::arg("seconds") = 0.3,
       "Measured fp32 FMA peak (GFLOP/s) of `threads` threads, AVX-512 CPUs only (for benchmarks).");
    m.def("blas_info", []() {
        py::dict d;
        d["library"] = "scipy-openblas32 (vendored)";
        d["config"] = std::string(scipy_openblas_get_config());
        d["corename"] = std::string(scipy_openblas_get_corename());
        d["num_threads"] = scipy_openblas_get_num_threads();
        return d;
    });
#ifdef PYNN_VERSION
    m.attr("__version__") = PYNN_VERSION;
#endif
}
