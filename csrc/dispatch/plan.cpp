// The plan (plan.h): the fixed table of bf16 kernels per CPU class and the pin that overrides
// it. Uses dispatch/ and kernels/.
#include "dispatch/plan.h"

#include <atomic>

#include "dispatch/cpu.h"
#include "dispatch/kernel_switch.h"
#include "kernels/tile_bf16.h"

namespace pynn {
namespace {

constexpr const char* kNames[] = {"blas", "avx512", "avx512-bf16", "amx", "amx-emulated"};
constexpr int kAuto = -1;
std::atomic<int> g_pin{kAuto};  // a Matmul, or kAuto

}  // namespace

Matmul table_choice(const CpuInfo& cpu, bool amx_ok, std::string* why) {
    const std::string cls = cpu_class(cpu);
    auto say = [why](const char* text) {
        if (why) *why = text;
    };
    if (cls == "intel-amx" && amx_ok) {
        say("AMX tiles: 1024 bf16 multiply-adds per tdpbf16ps (oneDNN's bf16 matmul ran 2.3-5x its fp32 here)");
        return Matmul::amx;
    }
    if (cpu.avx512_bf16 && (cls == "amd-zen4" || cls == "amd-zen5" || cls == "amd-avx512")) {
        say("vdpbf16ps: two multiply-adds per lane at the FMA rate on AMD Zen 4 and Zen 5 (epochs 1.3-1.6x faster)");
        return Matmul::avx512_bf16;
    }
    if (cpu.avx512_bf16) {
        say("no bf16 kernel faster than float32 here (vdpbf16ps runs at the FMA rate on Intel cores: "
            "'medium' was 0.7x 'highest'), so float32");
        return Matmul::avx512;
    }
    say("this CPU has no bf16 instructions, so float32");
    return Matmul::avx512;
}

namespace {

// Why a pinned kernel cannot run here, or "" when it can.
std::string cannot_run(Matmul k) {
    const CpuInfo& cpu = cpu_info();
    switch (k) {
        case Matmul::avx512:
            return cpu.avx512 ? "" : "a CPU with AVX-512 F/BW/VL/DQ";
        case Matmul::avx512_bf16:
        case Matmul::amx_emulated:  // its operands are converted by vcvtne2ps2bf16 too
            return cpu.avx512_bf16 ? "" : "a CPU with AVX512_BF16";
        case Matmul::amx:
            if (!cpu.amx_bf16) return "a CPU with AMX-BF16 (and an OS that enables its tile state)";
            return tile::amx_usable() ? "" : std::string("the AMX tile kernels to run here (") + tile::amx_status() + ")";
        default:
            return "a bf16 kernel name";
    }
}

}  // namespace

const char* matmul_name(Matmul k) { return kNames[static_cast<int>(k)]; }

Matmul bf16_kernel(std::string* why) {
    const int pin = g_pin.load(std::memory_order_relaxed);
    if (pin != kAuto) {
        if (why) *why = "pinned (set_bf16_kernel or PYNN_BF16_KERNEL)";
        return static_cast<Matmul>(pin);
    }
    return table_choice(cpu_info(), tile::amx_usable(), why);
}

void set_bf16_kernel(const std::string& name) {
    if (name == "auto") {
        g_pin.store(kAuto);
        return;
    }
    const std::string as = name == "float32" ? "avx512" : name;
    for (int k = static_cast<int>(Matmul::avx512); k <= static_cast<int>(Matmul::amx_emulated); ++k)
        if (as == kNames[k]) {
            const std::string missing = cannot_run(static_cast<Matmul>(k));
            if (!missing.empty()) throw InputError("bf16 kernel '" + name + "' needs " + missing);
            g_pin.store(k);
            return;
        }
    throw InputError("bf16 kernel must be 'auto', 'float32', 'avx512-bf16', 'amx' or 'amx-emulated', got '" + name +
                     "'");
}

std::string get_bf16_kernel_setting() {
    const int pin = g_pin.load();
    if (pin == kAuto) return "auto";
    return pin == static_cast<int>(Matmul::avx512) ? "float32" : kNames[pin];
}

}  // namespace pynn
