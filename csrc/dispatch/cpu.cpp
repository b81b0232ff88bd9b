// What the CPU is (cpu.h): CPUID vendor, family, model, brand and features, read once. Uses common.h only.
#include "dispatch/cpu.h"

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace pynn {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// XCR0: which register states the OS saves on a context switch.
std::uint64_t xgetbv0() {
    std::uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (std::uint64_t(hi) << 32) | lo;
}
#endif

CpuInfo read_cpu() {
    CpuInfo c;
#if defined(__x86_64__) || defined(__i386__)
    unsigned a = 0, b = 0, cx = 0, d = 0;
    if (!__get_cpuid(0, &a, &b, &cx, &d)) return c;
    const unsigned max_leaf = a;
    char vendor[13] = {};
    std::memcpy(vendor, &b, 4);
    std::memcpy(vendor + 4, &d, 4);
    std::memcpy(vendor + 8, &cx, 4);
    c.vendor = vendor;
    __get_cpuid(1, &a, &b, &cx, &d);
    const int base_family = (a >> 8) & 0xF, base_model = (a >> 4) & 0xF;
    c.family = base_family == 0xF ? base_family + static_cast<int>((a >> 20) & 0xFF) : base_family;
    c.model = (base_family == 0x6 || base_family == 0xF) ? (static_cast<int>((a >> 16) & 0xF) << 4) | base_model
                                                          : base_model;
    const bool osxsave = (cx >> 27) & 1;
    const std::uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    const bool zmm_state = (xcr0 & 0xE6) == 0xE6;        // SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM
    const bool tile_state = (xcr0 & 0x60000) == 0x60000;  // XTILECFG, XTILEDATA
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, cx, d);
        const bool f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
        const bool amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1;
        __builtin_cpu_init();
        c.avx512 = zmm_state && f && dq && bw && vl && __builtin_cpu_supports("fma");
        c.amx_bf16 = tile_state && amx_bf16 && amx_tile;
        __cpuid_count(7, 1, a, b, cx, d);
        c.avx512_bf16 = c.avx512 && ((a >> 5) & 1);
    }
    __get_cpuid(0x80000000, &a, &b, &cx, &d);
    if (a >= 0x80000004) {
        char brand[49] = {};
        for (unsigned leaf = 0; leaf < 3; ++leaf) {
            unsigned r[4];
            __get_cpuid(0x80000002 + leaf, &r[0], &r[1], &r[2], &r[3]);
            std::memcpy(brand + 16 * leaf, r, 16);
        }
        c.brand = brand;
        const auto first = c.brand.find_first_not_of(' '), last = c.brand.find_last_not_of(' ');
        c.brand = first == std::string::npos ? "" : c.brand.substr(first, last - first + 1);
    }
#endif
    return c;
}

}  // namespace

const CpuInfo& cpu_info() {
    static const CpuInfo info = read_cpu();
    return info;
}

std::string cpu_class(const CpuInfo& cpu) {
    if (cpu.vendor == "AuthenticAMD" && cpu.avx512) {
        // Family 25 (19h) is Zen 3 and Zen 4; only Zen 4 has AVX-512. 26 (1Ah) is Zen 5.
        if (cpu.family == 25) return "amd-zen4";
        if (cpu.family == 26) return "amd-zen5";
        return "amd-avx512";
    }
    if (cpu.vendor == "GenuineIntel" && cpu.avx512) return cpu.amx_bf16 ? "intel-amx" : "intel-avx512";
    return "other";
}

std::map<std::string, bool> cpu_features() {
    std::map<std::string, bool> f;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    f["sse2"] = __builtin_cpu_supports("sse2");
    f["avx"] = __builtin_cpu_supports("avx");
    f["avx2"] = __builtin_cpu_supports("avx2");
    f["fma"] = __builtin_cpu_supports("fma");
    f["avx512f"] = __builtin_cpu_supports("avx512f");
    f["avx512bw"] = __builtin_cpu_supports("avx512bw");
    f["avx512vl"] = __builtin_cpu_supports("avx512vl");
    f["avx512bf16"] = cpu_info().avx512_bf16;
    f["amx_bf16"] = cpu_info().amx_bf16;
#endif
    return f;
}

}  // namespace pynn
