// What every binding of pynn._core shares: the NumPy arrays the core accepts (C order,
// aligned, converted to T), their shape checks, the targets tuple, and the names of
// activations and losses. Every pointer handed to the core is checked in csrc/bindings/
// (shapes, dtypes, index ranges), so a bad argument is a ValueError and never an
// out-of-bounds access, whatever the Python layer above did. May use every room below.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "kernels/activations.h"
#include "kernels/losses.h"
#include "kernels/optimizers.h"
#include "network/network.h"

namespace pynn {
namespace py = pybind11;

Act parse_act(const std::string& name);
Loss parse_loss(const std::string& name);
OptimizerConfig make_opt(const std::string& kind, double lr, double momentum, bool nesterov, double weight_decay,
                         double beta1, double beta2, double eps);
OptKind parse_opt_kind(const std::string& kind);
const char* opt_kind_name(OptKind k);

// C order, converted to T, and aligned: NumPy copies an array that is not (e.g. a view at
// an odd byte offset, np.frombuffer(buf[1:])). The kernels dereference T* directly and a
// misaligned T* is undefined behaviour (UBSan reports it; vectorized loads may fault).
constexpr int kArrayFlags = py::array::c_style | py::array::forcecast | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
template <typename T>
using Array = py::array_t<T, kArrayFlags>;

template <typename T>
inline void check_matrix(const Array<T>& a, idx cols, const char* name) {
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

    Targets<T> view(idx N, idx C) const {
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
        if (!t.labels && !t.dense) throw InputError("targets are required");
        if (t.labels && t.dense) throw InputError("give either labels or dense targets, not both");
        return t;
    }
};

}  // namespace pynn

namespace pybind11::detail {
// TargetArrays from a Python tuple (labels_or_None, dense_or_None, weights_or_None).
template <typename T>
struct type_caster<pynn::TargetArrays<T>> {
    PYBIND11_TYPE_CASTER(pynn::TargetArrays<T>, _("tuple[labels, dense, weights]"));
    bool load(handle src, bool) {
        if (!pybind11::isinstance<pybind11::tuple>(src)) return false;
        auto t = pybind11::reinterpret_borrow<pybind11::tuple>(src);
        if (t.size() != 3) return false;
        if (!t[0].is_none()) value.labels = t[0].template cast<pynn::Array<std::int32_t>>();
        if (!t[1].is_none()) value.dense = t[1].template cast<pynn::Array<T>>();
        if (!t[2].is_none()) value.weights = t[2].template cast<pynn::Array<T>>();
        return true;
    }
    static handle cast(const pynn::TargetArrays<T>&, return_value_policy, handle) { return pybind11::none().release(); }
};
}  // namespace pybind11::detail

namespace pynn {
// The binders of csrc/bindings/, one per area; module.cpp calls them in order.
void bind_names(py::module_& m);                 // names.cpp
void bind_optimizer(py::module_& m);             // optimizer.cpp
void bind_networks(py::module_& m);              // network.cpp
void bind_functions(py::module_& m);             // functions.cpp
void bind_machine(py::module_& m);               // machine.cpp
void bind_tile_kernels(py::module_& m);          // tile_kernels.cpp (test-only)
void bind_distributed(py::module_& m);           // distributed.cpp
}  // namespace pynn
