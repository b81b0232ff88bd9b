// Bindings of the module-level functions over arrays: activations and their derivatives,
// loss values, softmax, the finiteness check and the epoch's row order (each a call of a
// kernel, the GIL released around it).
#include <string>
#include <vector>

#include "bindings/convert.h"
#include "dispatch/kernel_switch.h"
#include "dispatch/threads.h"
#include "network/epoch_order.h"

namespace pynn {
namespace {

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
    activation_forward(yp, xp, n, act, static_cast<T>(alpha), use_avx512());  // as a model's forward
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
    const bool avx512 = use_avx512();  // one answer for both passes, as a model's step
    activation_forward(y.mutable_data(), x.data(), n, act, static_cast<T>(alpha), avx512);
    activation_backward(dx.mutable_data(), ones.data(), x.data(), y.data(), n, act, static_cast<T>(alpha), avx512);
    return dx;
}

// Loss and hit count of finished outputs (B,C): the training kernels without a gradient
// and without the divergence check (evaluating overflowed outputs is not an error).
template <typename T>
py::tuple evaluate_loss(const std::string& name, Array<T> outputs, TargetArrays<T> y) {
    const Loss kind = parse_loss(name);
    if (kind == Loss::none) throw InputError("loss 'none' has no value");
    if (outputs.ndim() != 2) throw InputError("outputs must be 2-D (n_samples, n_outputs)");
    const idx B = outputs.shape(0), C = outputs.shape(1);
    const Targets<T> t = y.view(B, C);
    idx correct = 0;
    double loss;
    {
        py::gil_scoped_release release;
        ThreadScope threads(effective_threads());
        loss = compute_loss<T>(kind, nullptr, outputs.data(), t.labels, t.dense, t.weights, B, C, &correct, 0, use_avx512());
    }
    return py::make_tuple(loss, correct);
}

}  // namespace

void bind_functions(py::module_& m) {
    m.def("activation", &apply_activation<float>, py::arg("x").noconvert(), py::arg("name"), py::arg("alpha") = 0.0);
    m.def("activation", &apply_activation<double>, py::arg("x"), py::arg("name"), py::arg("alpha") = 0.0);
    m.def("activation_grad", &apply_activation_grad<float>, py::arg("x").noconvert(), py::arg("name"), py::arg("alpha") = 0.0);
    m.def("activation_grad", &apply_activation_grad<double>, py::arg("x"), py::arg("name"), py::arg("alpha") = 0.0);
    m.def("loss", &evaluate_loss<float>, py::arg("name"), py::arg("outputs").noconvert(), py::arg("targets"));
    m.def("loss", &evaluate_loss<double>, py::arg("name"), py::arg("outputs"), py::arg("targets"));
    m.def("softmax", [](Array<double> x) {
        // Rows of a 2-D array (or a 1-D vector), in double (kernels/activations.h).
        if (x.ndim() != 1 && x.ndim() != 2) throw InputError("softmax expects a 1-D or 2-D array");
        const idx C = x.shape(x.ndim() - 1), R = x.ndim() == 2 ? x.shape(0) : 1;
        Array<double> y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
        const double* xp = x.data();
        double* yp = y.mutable_data();
        {
            py::gil_scoped_release release;
            softmax_rows_forward(yp, xp, R, C);
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
}

}  // namespace pynn
