// Which GEMM kernels the float32 dense layers use, chosen at run time:
//   "avx512": the register-blocked kernels of kernels/avx512.h (CPU with AVX-512 F/BW/VL/DQ);
//   "blas":   OpenBLAS sgemm plus separate elementwise passes (any CPU; float64 always).
// The default is "avx512" where the CPU has it, unless PYNN_DISABLE_AVX512=1 was set when
// the module was imported. set_kernel("auto") returns to that default.
#pragma once
#include <string>

namespace pynn {

bool avx512_supported();                 // the CPU (and OS) can run the AVX-512 kernels
void kernels_init();                     // module import: reads PYNN_DISABLE_AVX512
void set_kernel(const std::string& name);  // "auto", "avx512" or "blas"
std::string get_kernel();                // the kernel family now in use
bool use_avx512();                       // cheap check for the hot path

// torch.set_float32_matmul_precision's contract: "highest" (the default) and "high" keep
// float32 products; "medium" lets the products of training's dense layers of at least
// 128 x 128 weights (forward, dW, dX; network/region_step.cpp) run on bfloat16 operands with
// float32 accumulation where the plan (dispatch/plan.h) has a bf16 kernel faster than
// float32 on this CPU, float32 elsewhere.
bool bf16_supported();                               // AVX-512 kernels and such a bf16 kernel
void set_matmul_precision(const std::string& precision);
std::string get_matmul_precision();
bool use_bf16();                                     // "medium", on a CPU that has it

}  // namespace pynn
