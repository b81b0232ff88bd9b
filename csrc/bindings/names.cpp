// Bindings of the core's names: activations (kernels/activation_table.h) and losses, from
// Python strings into the core's enums, and the activation table itself for pynn's registry.
#include <string>

#include "bindings/convert.h"
#include "kernels/activation_table.h"

namespace pynn {

Act parse_act(const std::string& name) {
    std::string known;
    for (const ActivationEntry& a : kActivationTable) {
        if (a.kind != ActivationKind::elementwise) continue;
        if (name == a.name) return a.act;
        known += (known.empty() ? "" : ", ") + std::string(a.name);
    }
    throw InputError("unknown activation '" + name + "'; expected one of " + known);
}

Loss parse_loss(const std::string& name) {
    if (name == "softmax_cross_entropy") return Loss::softmax_cross_entropy;
    if (name == "binary_cross_entropy") return Loss::binary_cross_entropy;
    if (name == "mse") return Loss::mse;
    if (name == "none") return Loss::none;
    throw InputError("unknown loss '" + name + "'; expected softmax_cross_entropy, binary_cross_entropy, mse or none");
}

void bind_names(py::module_& m) {
    m.def("activation_table", []() {
        py::list rows;
        for (const ActivationEntry& a : kActivationTable) {
            py::dict d;
            d["name"] = a.name;
            d["kind"] = activation_kind_name(a.kind);
            d["init"] = init_rule_name(a.init);
            rows.append(d);
        }
        return rows;
    }, "The core's activations: name, kind ('elementwise' or 'learnable') and the init rule "
       "('he' or 'glorot') of the Dense layer in front of it under init 'auto'.");
}

}  // namespace pynn
