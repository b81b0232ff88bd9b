// The run-time switch between the AVX-512 and the BLAS float32 kernels and the float32
// matmul precision (kernel_switch.h): process-wide settings read by network/. Uses dispatch/ and kernels/.
#include "dispatch/kernel_switch.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "common.h"
#include "dispatch/cpu.h"
#include "dispatch/plan.h"

namespace pynn {
namespace {
std::atomic<bool> g_avx512{false};
bool g_disabled_by_env = false;
// set_float32_matmul_precision: an index into kPrecisions (the name is derived from it).
constexpr const char* kPrecisions[] = {"highest", "high", "medium"};
constexpr int kMedium = 2;
std::atomic<int> g_precision{0};
}  // namespace

// F/BW/VL/DQ and FMA with the OS saving the zmm state, as cpu.h reads them once.
bool avx512_supported() { return cpu_info().avx512; }

void kernels_init() {
    const char* env = std::getenv("PYNN_DISABLE_AVX512");
    g_disabled_by_env = env && *env && std::strcmp(env, "0") != 0;
    g_avx512.store(avx512_supported() && !g_disabled_by_env);
}

void set_kernel(const std::string& name) {
    if (name == "auto") {
        g_avx512.store(avx512_supported() && !g_disabled_by_env);
    } else if (name == "blas") {
        g_avx512.store(false);
    } else if (name == "avx512") {
        if (!avx512_supported()) throw InputError("kernel 'avx512' needs a CPU with AVX-512 F/BW/VL/DQ and FMA");
        g_avx512.store(true);
    } else {
        throw InputError("kernel must be 'auto', 'avx512' or 'blas', got '" + name + "'");
    }
}

std::string get_kernel() { return g_avx512.load() ? "avx512" : "blas"; }

bool use_avx512() { return g_avx512.load(std::memory_order_relaxed); }

bool bf16_supported() { return avx512_supported() && is_bf16(bf16_kernel()); }

void set_matmul_precision(const std::string& precision) {
    for (int i = 0; i < 3; ++i)
        if (precision == kPrecisions[i]) {
            g_precision.store(i);
            return;
        }
    throw InputError("precision must be 'highest', 'high' or 'medium', got '" + precision + "'");
}

std::string get_matmul_precision() { return kPrecisions[g_precision.load()]; }

bool use_bf16() { return g_precision.load(std::memory_order_relaxed) == kMedium && use_avx512() && bf16_supported(); }

}  // namespace pynn
