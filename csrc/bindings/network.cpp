// Bindings of the core's Network (NetworkF32, NetworkF64): its construction, parameter
// and gradient views (NumPy arrays over the network's buffers that keep it alive), and its
// calls, each entered with the GIL released and the model's lock held.
#include <pybind11/functional.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "bindings/convert.h"
#include "dispatch/plan.h"
#include "dispatch/threads.h"

namespace pynn {
namespace {

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

// A view of one optimizer-state buffer of the network `self` (which(n) names it), allocated
// on first use inside the core (see the first_moment binding).
template <typename T, typename Which>
py::array_t<T> moment_view(py::object self, Which which) {
    auto& n = self.cast<Network<T>&>();
    Buffer<T>* buf;
    in_core(n, [&] { buf = &which(n); });
    return view_of<T>(buf->data(), 0, {static_cast<idx>(buf->size())}, self);
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
            [](Net& n, const std::string& kind) { n.set_optimizer_kind(parse_opt_kind(kind)); })
        .def_readwrite("train_forwards", &Net::train_forwards)
        .def_readonly("seed", &Net::seed)
        .def("layer_offsets", [](Net& n) {
            py::list out;
            for (const auto& s : n.layers()) {
                py::dict d;
                d["w_off"] = s.w_off;
                d["b_off"] = s.b_off;
                d["slope_off"] = s.slope_off;
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
        // The optimizer state: the first moment (SGD's momentum, Adam's m) and the second
        // (Adam's v), as Network names them. Allocated on first use: under the lock, or a
        // train_step running in another thread could be writing the vector while it is
        // reallocated. Once allocated it keeps its size, so the view stays valid.
        .def("first_moment", [](py::object self) {
            return moment_view<T>(self, [](Net& n) -> Buffer<T>& { return n.first_moment(); });
        })
        .def("second_moment", [](py::object self) {
            return moment_view<T>(self, [](Net& n) -> Buffer<T>& { return n.second_moment(); });
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
            Targets<T> t = y.view(B, n.n_outputs());
            idx correct = 0;
            double loss;
            in_core(n, [&] { loss = n.loss_and_gradients(X.data(), t, B, &correct); });
            return py::make_tuple(loss, correct);
        })
        .def("train_step", [](Net& n, Array<T> X, TargetArrays<T> y, const OptimizerConfig& opt) {
            check_matrix(X, n.n_inputs(), "X");
            const idx B = X.shape(0);
            Targets<T> t = y.view(B, n.n_outputs());
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
                               idx batch_size, const OptimizerConfig& opt,
                               Reducer* reducer) {
            check_matrix(X, n.n_inputs(), "X");
            const idx N = X.shape(0);
            Targets<T> t = y.view(N, n.n_outputs());
            // perm lists the rows of the epoch in order: a permutation of all rows, or of a
            // subset (validation_split trains on some rows of X without copying them out).
            if (perm.ndim() != 1) throw InputError("perm must be a 1-D array of row indices");
            const idx rows = perm.shape(0);
            const std::int64_t* p = perm.data();
            for (idx i = 0; i < rows; ++i)
                if (p[i] < 0 || p[i] >= N) throw InputError("perm holds an index out of range");
            const std::function<bool()> check = make_interrupt_check();
            EpochStats s;
            in_core(n, [&] { s = n.train_epoch(X.data(), t, rows, p, batch_size, opt, check, reducer); });
            return py::make_tuple(s.loss_sum, s.rows, s.correct);
        }, py::arg("X"), py::arg("y"), py::arg("perm"), py::arg("batch_size"), py::arg("optimizer"),
           py::arg("reducer") = nullptr);
}

}  // namespace

void bind_networks(py::module_& m) {
    bind_network<float>(m, "NetworkF32");
    bind_network<double>(m, "NetworkF64");
}

}  // namespace pynn
