// What the CPU is, read once at run time with CPUID (the build targets baseline x86-64):
// vendor, family and model, the brand string, and the features the kernels dispatch on.
// plan.h turns this into the choice of kernels; nothing here chooses.
#pragma once
#include <map>
#include <string>

namespace pynn {

struct CpuInfo {
    std::string vendor;         // CPUID's vendor string: "AuthenticAMD", "GenuineIntel", ...
    std::string brand;          // the model name lscpu shows
    int family = 0, model = 0;  // display family and model (base plus extended fields)
    bool avx512 = false;        // F/BW/VL/DQ and FMA, with the OS saving the zmm state
    bool avx512_bf16 = false;   // vdpbf16ps (and avx512)
    // AMX-TILE and AMX-BF16 in CPUID and the tile state enabled by the OS (XCR0 bits 17-18).
    // Whether the tile kernels may run in this process (Linux's permission, asked once) is
    // kernels/tile_bf16.h's amx_usable().
    bool amx_bf16 = false;
};

const CpuInfo& cpu_info();

// The CPU's class, the key of the kernel table (plan.cpp): "amd-zen4", "amd-zen5",
// "amd-avx512" (a later AMD core with AVX-512), "intel-amx", "intel-avx512", or "other".
std::string cpu_class(const CpuInfo& cpu);

// Feature name -> present, for `pynn info` and the tests.
std::map<std::string, bool> cpu_features();

}  // namespace pynn
