"""What the core runs on, as the core detects it: the CPU (features, vendor, model and its
row of the kernel table), the BLAS, the kernel set in use and the FMA peak. For `pynn
info` and `pynn bench`; the compiled module is reached from pynn/nn/ only.

May import: pynn._core."""
from .._core import __version__ as core_version
from .._core import avx512_supported, blas_info, cpu_features, cpu_info, fma_peak_gflops, get_kernel

__all__ = ["core_version", "avx512_supported", "blas_info", "cpu_features", "cpu_info", "fma_peak_gflops",
           "get_kernel"]
