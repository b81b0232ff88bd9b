// pybind11 module pynn._core: the only room of the core that knows Python (csrc/bindings/,
// one file per area, nothing numeric). This file makes the module: the error types, then
// each area's binder. The GIL is released around all numeric work.
#include "bindings/convert.h"
#include "dispatch/kernel_switch.h"
#include "dispatch/threads.h"

using namespace pynn;

PYBIND11_MODULE(_core, m) {
    m.doc() = "pynn's C++ core: networks over flat buffers, kernels, optimizers";
    threads_init();
    kernels_init();

    static py::exception<DivergenceError> divergence(m, "DivergenceError", PyExc_FloatingPointError);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const InputError& e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        } catch (const DivergenceError& e) {
            PyErr_SetString(divergence.ptr(), e.what());
        } catch (const AllocationError& e) {
            PyErr_SetString(PyExc_MemoryError, e.what());
        } catch (const Interrupted& e) {
            // A Ctrl-C of this process still pending (another process's stop ended the
            // data-parallel step first) is this same interruption: consume it here, or
            // Python would raise a second KeyboardInterrupt in the caller's handler.
            if (PyErr_CheckSignals() != 0) {
                if (!PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) return;
                PyErr_Clear();
            }
            PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
        }
    });

    bind_names(m);
    bind_optimizer(m);
    bind_networks(m);
    bind_tile_kernels(m);
    bind_distributed(m);
    bind_functions(m);
    bind_machine(m);
#ifdef PYNN_VERSION
    m.attr("__version__") = PYNN_VERSION;
#endif
}
