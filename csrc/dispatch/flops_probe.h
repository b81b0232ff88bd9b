// The machine's float32 FMA peak, measured (flops_probe.cpp). Uses common.h only.
#pragma once

namespace pynn {

// Measured float32 FMA throughput of `threads` threads (GFLOP/s), running zmm FMAs for
// about `seconds`: the machine's peak that benchmarks quote percentages of.
// AVX-512 CPUs only (avx512_supported()); 0 on builds without the AVX-512 kernels.
double fma_peak_gflops(int threads, double seconds);

}  // namespace pynn
