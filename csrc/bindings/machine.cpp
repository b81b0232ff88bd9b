// Bindings of what the machine is and which kernels run on it: threads, CPU features and
// class, the AVX-512 / BLAS switch, float32 matmul precision, the bf16 kernel table, the
// BLAS library and the FMA peak probe.
#include <string>

#include "bindings/convert.h"
#include "dispatch/cpu.h"
#include "dispatch/flops_probe.h"
#include "dispatch/kernel_switch.h"
#include "dispatch/plan.h"
#include "dispatch/threads.h"
#include "kernels/tile_bf16.h"

extern "C" {
char* scipy_openblas_get_config(void);
char* scipy_openblas_get_corename(void);
int scipy_openblas_get_num_threads(void);
}

namespace pynn {

void bind_machine(py::module_& m) {
    m.def("set_num_threads", &set_num_threads, py::arg("n"));
    m.def("get_num_threads", &get_num_threads);
    m.def("_thread_settings", []() {
        const ThreadSettings s = thread_settings();
        return py::make_tuple(s.requested, s.openmp, s.openblas);
    }, "(pynn's setting or 0, this thread's OpenMP limit, OpenBLAS's count): what set_num_threads changes.");
    m.def("_restore_thread_settings", [](int requested, int openmp, int openblas) {
        restore_thread_settings({requested, openmp, openblas});
    }, py::arg("requested"), py::arg("openmp"), py::arg("openblas"));
    m.def("cpu_features", &cpu_features);
    m.def("cpu_info", []() {
        const CpuInfo& c = cpu_info();
        py::dict d;
        d["vendor"] = c.vendor;
        d["brand"] = c.brand;
        d["family"] = c.family;
        d["model"] = c.model;
        d["class"] = cpu_class(c);
        d["amx_usable"] = tile::amx_usable();
        return d;
    }, "What the CPU is (vendor, brand, family, model, the class the kernel table is keyed by).");
    m.def("set_bf16_kernel", &set_bf16_kernel, py::arg("name"));
    m.def("_bf16_kernel_table", [](const std::string& vendor, int family, bool avx512, bool avx512_bf16, bool amx) {
        CpuInfo c;
        c.vendor = vendor;
        c.family = family;
        c.avx512 = avx512;
        c.avx512_bf16 = avx512 && avx512_bf16;
        c.amx_bf16 = amx;
        std::string why;
        const Matmul k = table_choice(c, amx, &why);
        return py::make_tuple(cpu_class(c), matmul_name(k), why);
    }, py::arg("vendor"), py::arg("family"), py::arg("avx512"), py::arg("avx512_bf16"), py::arg("amx"),
       "The kernel table's row and choice for a described CPU (tests: every row on any machine).");
    m.def("get_bf16_kernel", []() {
        std::string why;
        const Matmul k = bf16_kernel(&why);
        return py::make_tuple(get_bf16_kernel_setting(), matmul_name(k), why);
    }, "(setting, kernel, why): the pin ('auto' unless set), the kernel 'medium' uses, the reason.");
    m.def("set_kernel", &set_kernel, py::arg("name"),
          "Use 'avx512' (register-blocked float32 kernels), 'blas' (OpenBLAS) or 'auto' (the "
          "default: avx512 where the CPU has it, unless PYNN_DISABLE_AVX512=1 at import).");
    m.def("set_float32_matmul_precision", &set_matmul_precision, py::arg("precision"));
    m.def("get_float32_matmul_precision", &get_matmul_precision);
    m.def("bf16_supported", &bf16_supported);
    m.def("get_kernel", &get_kernel, "The kernel family float32 dense layers use now: 'avx512' or 'blas'.");
    m.def("avx512_supported", &avx512_supported);
    m.def("fma_peak_gflops", [](int threads, double seconds) {
        if (!avx512_supported()) throw InputError("fma_peak_gflops needs a CPU with AVX-512");
        if (threads < 1 || !(seconds > 0.0 && seconds <= 10.0)) throw InputError("threads must be >= 1, seconds in (0, 10]");
        py::gil_scoped_release release;
        return fma_peak_gflops(threads, seconds);
    }, py::arg("threads"), py::arg("seconds") = 0.3,
       "Measured fp32 FMA peak (GFLOP/s) of `threads` threads, AVX-512 CPUs only (for benchmarks).");
    m.def("blas_info", []() {
        py::dict d;
        d["library"] = "scipy-openblas32 (vendored)";
        d["config"] = std::string(scipy_openblas_get_config());
        d["corename"] = std::string(scipy_openblas_get_corename());
        d["num_threads"] = scipy_openblas_get_num_threads();
        return d;
    });
}

}  // namespace pynn
