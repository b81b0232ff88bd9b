// Which kernel each dense-layer product runs on: the plan. A fixed table keyed by the CPU's
// class (dispatch/cpu.h), never a measurement taken at run time, so the same machine,
// seed, data, threads and settings give bit-identical parameters from run to run; a
// pin (set_bf16_kernel; pynn/precision.py reads PYNN_BF16_KERNEL at import) makes the choice the same across
// machines too.
//
// Kernels of a float32 dense layer:
//   "blas"          OpenBLAS sgemm plus elementwise passes (any CPU; float64 always)
//   "avx512"        the register-blocked float32 kernels (kernels/avx512.h)
//   "avx512-bf16"   bfloat16 operands, float32 accumulation by vdpbf16ps (AVX512_BF16)
//   "amx"           bfloat16 operands, float32 accumulation by AMX tiles (tdpbf16ps)
//   "amx-emulated"  the AMX kernels' blocking over a portable scalar tile backend: the
//                   same arithmetic as "amx" on any CPU with AVX512_BF16 (which converts
//                   the operands), slowly (tests, and reproducing an AMX run elsewhere)
// Under float32 matmul precision "medium" (dispatch/kernel_switch.h) the dense layers of at least
// kBf16MinWeights weights in fit's one-region step take the CPU's bf16 kernel -- or stay on
// "avx512" where no bf16 kernel is faster than float32 on that CPU, so "medium" never
// slows a run down.
#pragma once
#include <string>

#include "common.h"
#include "dispatch/cpu.h"

namespace pynn {

enum class Matmul : int { blas, avx512, avx512_bf16, amx, amx_emulated };

const char* matmul_name(Matmul k);
inline bool is_bf16(Matmul k) { return k == Matmul::avx512_bf16 || k == Matmul::amx || k == Matmul::amx_emulated; }
inline bool is_tile(Matmul k) { return k == Matmul::amx || k == Matmul::amx_emulated; }

// Below 128 x 128 weights the conversions to bf16 cost about what the faster products save.
constexpr idx kBf16MinWeights = 128 * 128;

// The table: the bf16 kernel of "medium" on a CPU (amx_ok: amx_usable() there), and why.
Matmul table_choice(const CpuInfo& cpu, bool amx_ok, std::string* why);
// The bf16 kernel of "medium" (Matmul::avx512 where bf16 would not be faster), and why.
Matmul bf16_kernel(std::string* why = nullptr);
// Pins it: "auto" (the table), "float32", "avx512-bf16", "amx" or "amx-emulated";
// InputError when the CPU cannot run the named kernel.
void set_bf16_kernel(const std::string& name);
std::string get_bf16_kernel_setting();  // the pin, or "auto"

}  // namespace pynn
