// Bindings of data-parallel training: the Reducer interface (network/reducer.h) that
// train_epoch takes, and its MPI implementation (distributed/mpi_reducer.h), built by
// pynn/distributed/mpi.py from what mpi4py reports.
#include <pybind11/pybind11.h>

#include <string>

#include "distributed/mpi_reducer.h"
#include "network/reducer.h"

namespace py = pybind11;

namespace pynn {

void bind_distributed(py::module_& m) {
    py::register_exception<ReduceError>(m, "ReduceError", PyExc_RuntimeError);
    py::class_<Reducer>(m, "Reducer")
        .def_property_readonly("rank", &Reducer::rank)
        .def_property_readonly("size", &Reducer::size)
        .def_readwrite("seconds", &Reducer::seconds, "wall time spent in the reductions so far")
        .def_readwrite("stop_requested", &Reducer::stop_requested,
                       "stop every process at the next step (set by fit's SIGINT handler)")
        .def_readwrite("calls", &Reducer::calls, "reductions so far");
    py::class_<MpiReducer, Reducer>(m, "MpiReducer")
        .def(py::init([](const std::string& libmpi, std::int64_t comm, std::int64_t f32, std::int64_t f64,
                         std::int64_t i64, std::int64_t sum, std::int64_t max, std::int64_t in_place) {
                 MpiHandles h;
                 h.comm = comm;
                 h.f32 = f32;
                 h.f64 = f64;
                 h.i64 = i64;
                 h.sum = sum;
                 h.max = max;
                 h.in_place = in_place;
                 return new MpiReducer(libmpi, h);
             }),
             py::arg("libmpi"), py::arg("comm"), py::arg("float32"), py::arg("float64"), py::arg("int64"),
             py::arg("sum"), py::arg("max"), py::arg("in_place"),
             "A Reducer on the already loaded libmpi at path `libmpi`, with MPICH integer handles "
             "(MPI._handleof of the communicator, MPI.FLOAT, MPI.DOUBLE, MPI.INT64_T, MPI.SUM, "
             "MPI.MAX) and MPI_IN_PLACE's address.");
}

}  // namespace pynn
