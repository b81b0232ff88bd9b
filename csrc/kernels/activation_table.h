// The one table of the core's activations: each name Python may give, what kind of layer it
// is, the kernel it runs (activations.h) and the initialization of the Dense layer in front
// of it that 'auto' picks. The bindings parse names with it and expose it
// (_core.activation_table()), so pynn's layer registry can be checked against it. Adding an
// activation: its kernel in activations.cpp, one row here. Uses kernels/activations.h.
#pragma once
#include <string>

#include "kernels/activations.h"

namespace pynn {

enum class ActivationKind : int {
    elementwise,  // y = f(x), add_activation (alpha: LeakyReLU's slope, ELU's alpha)
    learnable,    // PReLU: slopes in the parameter buffer, add_prelu
};

// He (Kaiming) for units that pass about half their inputs (ReLU and its relatives),
// Glorot (Xavier) for those symmetric around 0.
enum class InitRule : int { glorot, he };

struct ActivationEntry {
    const char* name;
    ActivationKind kind;
    Act act;  // the elementwise kernel (elementwise kind only)
    InitRule init;
};

inline constexpr ActivationEntry kActivationTable[] = {
    {"identity", ActivationKind::elementwise, Act::identity, InitRule::glorot},
    {"sigmoid", ActivationKind::elementwise, Act::sigmoid, InitRule::glorot},
    {"tanh", ActivationKind::elementwise, Act::tanh, InitRule::glorot},
    {"relu", ActivationKind::elementwise, Act::relu, InitRule::he},
    {"leaky_relu", ActivationKind::elementwise, Act::leaky_relu, InitRule::he},
    {"elu", ActivationKind::elementwise, Act::elu, InitRule::he},
    {"gelu", ActivationKind::elementwise, Act::gelu, InitRule::he},
    {"silu", ActivationKind::elementwise, Act::silu, InitRule::he},
    {"softplus", ActivationKind::elementwise, Act::softplus, InitRule::glorot},
    {"prelu", ActivationKind::learnable, Act::identity, InitRule::he},
};

inline const char* init_rule_name(InitRule r) { return r == InitRule::he ? "he" : "glorot"; }
inline const char* activation_kind_name(ActivationKind k) {
    return k == ActivationKind::learnable ? "learnable" : "elementwise";
}

}  // namespace pynn
