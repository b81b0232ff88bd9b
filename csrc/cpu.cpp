#include "cpu.h"

namespace pynn {

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
    f["avx512bf16"] = __builtin_cpu_supports("avx512bf16");
#endif
    return f;
}

}  // namespace pynn
