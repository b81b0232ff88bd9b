// The Reducer of network/reducer.h on MPI (mpi_reducer.h): libmpi's Allreduce, looked up
// with dlsym in the library mpi4py already loaded. Uses network/reducer.h only.
#include "distributed/mpi_reducer.h"

#include <dlfcn.h>

#include <chrono>
#include <climits>
#include <cstddef>
#include <string>

namespace pynn {
namespace {
// MPICH's handles are C ints; a value outside int cannot be one.
int as_handle(std::int64_t v, const char* name) {
    if (v < INT_MIN || v > INT_MAX)
        throw InputError(std::string(name) + " must be an MPI handle that fits a C int (MPICH's ABI), got " +
                         std::to_string(v));
    return static_cast<int>(v);
}
}  // namespace

MpiReducer::MpiReducer(const std::string& libmpi, const MpiHandles& handles) : h_(handles) {
    for (auto [v, name] : {std::pair{h_.comm, "comm"}, {h_.f32, "MPI_FLOAT"}, {h_.f64, "MPI_DOUBLE"},
                           {h_.i64, "MPI_INT64_T"}, {h_.sum, "MPI_SUM"}, {h_.max, "MPI_MAX"}})
        as_handle(v, name);
    // RTLD_NOLOAD: only the copy mpi4py loaded (and initialized) will do; loading a second
    // one would give an MPI that was never initialized.
    lib_ = dlopen(libmpi.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (!lib_) {
        const char* why = dlerror();
        throw InputError("libmpi " + libmpi + " is not loaded in this process (import mpi4py.MPI first)" +
                         (why ? std::string(": ") + why : std::string()));
    }
    allreduce_ = reinterpret_cast<AllreduceFn>(dlsym(lib_, "MPI_Allreduce"));
    error_string_ = reinterpret_cast<ErrorStringFn>(dlsym(lib_, "MPI_Error_string"));
    using CommIntFn = int (*)(int, int*);
    auto comm_rank = reinterpret_cast<CommIntFn>(dlsym(lib_, "MPI_Comm_rank"));
    auto comm_size = reinterpret_cast<CommIntFn>(dlsym(lib_, "MPI_Comm_size"));
    if (!allreduce_ || !comm_rank || !comm_size) {
        dlclose(lib_);
        throw InputError("libmpi " + libmpi + " has no MPI_Allreduce / MPI_Comm_rank / MPI_Comm_size");
    }
    int code = comm_rank(static_cast<int>(h_.comm), &rank_);
    if (code == 0) code = comm_size(static_cast<int>(h_.comm), &size_);
    if (code != 0) {
        dlclose(lib_);
        throw InputError("comm is not a valid communicator of " + libmpi + " (MPI_Comm_rank failed with error " +
                         std::to_string(code) + ")");
    }
}

MpiReducer::~MpiReducer() {
    if (lib_) dlclose(lib_);  // drops our reference; mpi4py's keeps the library loaded
}

void MpiReducer::fail(const char* what, int code) const {
    char text[512] = {};
    int len = 0;
    if (!error_string_ || error_string_(code, text, &len) != 0) text[0] = '\0';
    throw ReduceError(std::string(what) + " failed on rank " + std::to_string(rank_) + ": " +
                      (text[0] ? text : ("MPI error " + std::to_string(code))));
}

void MpiReducer::allreduce(void* buf, idx count, ReduceType type, int op) {
    const auto start = std::chrono::steady_clock::now();
    const int dtype = static_cast<int>(type == ReduceType::f32 ? h_.f32 : type == ReduceType::f64 ? h_.f64 : h_.i64);
    const std::size_t bytes = type == ReduceType::f32 ? 4 : 8;
    void* in_place = reinterpret_cast<void*>(static_cast<std::intptr_t>(h_.in_place));
    // MPI counts are ints: a buffer of more than 2^31 - 1 values goes in pieces (the same
    // pieces on every process, so the calls still match).
    for (idx done = 0; done < count;) {
        const int n = static_cast<int>(count - done < INT_MAX ? count - done : INT_MAX);
        const int code = allreduce_(in_place, static_cast<char*>(buf) + done * bytes, n, dtype, op,
                                    static_cast<int>(h_.comm));
        if (code != 0) fail("MPI_Allreduce", code);
        done += n;
    }
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    calls += 1;
}

void MpiReducer::sum(void* buf, idx count, ReduceType type) { allreduce(buf, count, type, static_cast<int>(h_.sum)); }
void MpiReducer::max(void* buf, idx count, ReduceType type) { allreduce(buf, count, type, static_cast<int>(h_.max)); }

}  // namespace pynn
