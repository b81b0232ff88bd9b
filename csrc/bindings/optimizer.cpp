// Bindings of the optimizer settings (OptimizerConfig): the optimizer's name and
// hyper-parameters from Python into the core's struct, checked.
#include <cmath>
#include <string>

#include "bindings/convert.h"

namespace pynn {

const char* opt_kind_name(OptKind k) {
    return k == OptKind::sgd ? "sgd" : k == OptKind::adam ? "adam" : "adamw";
}

OptKind parse_opt_kind(const std::string& kind) {
    if (kind == "sgd") return OptKind::sgd;
    if (kind == "adam") return OptKind::adam;
    if (kind == "adamw") return OptKind::adamw;
    throw InputError("unknown optimizer '" + kind + "'; expected sgd, adam or adamw");
}

namespace {
// The core's own guard for direct _core use (pynn's optimizers check and document these for
// users): a NaN learning rate would silently turn every parameter into NaN.
void require(bool ok, const std::string& what, double got) {
    if (!ok) throw InputError(what + ", got " + std::to_string(got));
}
void require_lr(double lr) { require(std::isfinite(lr) && lr > 0, "lr must be finite and > 0", lr); }
}  // namespace

OptimizerConfig make_opt(const std::string& kind, double lr, double momentum, bool nesterov, double weight_decay,
                         double beta1, double beta2, double eps) {
    OptimizerConfig c;
    c.kind = parse_opt_kind(kind);
    require_lr(lr);
    require(std::isfinite(momentum) && momentum >= 0, "momentum must be finite and >= 0", momentum);
    require(std::isfinite(weight_decay) && weight_decay >= 0, "weight_decay must be finite and >= 0", weight_decay);
    require(beta1 >= 0 && beta1 < 1, "beta1 must be in [0, 1)", beta1);
    require(beta2 >= 0 && beta2 < 1, "beta2 must be in [0, 1)", beta2);
    require(std::isfinite(eps) && eps > 0, "eps must be finite and > 0", eps);
    c.lr = lr; c.momentum = momentum; c.nesterov = nesterov; c.weight_decay = weight_decay;
    c.beta1 = beta1; c.beta2 = beta2; c.eps = eps;
    return c;
}

void bind_optimizer(py::module_& m) {
    py::class_<OptimizerConfig>(m, "OptimizerConfig")
        .def(py::init(&make_opt), py::arg("kind"), py::arg("lr"), py::arg("momentum") = 0.0,
             py::arg("nesterov") = false, py::arg("weight_decay") = 0.0, py::arg("beta1") = 0.9,
             py::arg("beta2") = 0.999, py::arg("eps") = 1e-8)
        .def_property("lr", [](const OptimizerConfig& c) { return c.lr; }, [](OptimizerConfig& c, double lr) {
            require_lr(lr);
            c.lr = lr;
        });
}

}  // namespace pynn
