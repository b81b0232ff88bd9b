// A Reducer (network/reducer.h) on the MPI library mpi4py has already loaded, without
// linking MPI at build time: dlopen(path, RTLD_NOLOAD) hands back the loaded libmpi, and
// dlsym finds MPI_Allreduce in it. pynn/distributed/mpi.py finds the path and reads the
// handles from mpi4py at run time (MPI._handleof), so nothing MPICH-specific is compiled
// in except that handles are ints (MPICH's ABI; Open MPI's are pointers and is refused
// in Python before it gets here).
#pragma once
#include <cstdint>
#include <string>

#include "network/reducer.h"

namespace pynn {

struct MpiHandles {
    std::int64_t comm = 0;                     // MPI_Comm
    std::int64_t f32 = 0, f64 = 0, i64 = 0;    // MPI_FLOAT, MPI_DOUBLE, MPI_INT64_T
    std::int64_t sum = 0, max = 0;             // MPI_SUM, MPI_MAX
    std::int64_t in_place = 0;                 // MPI_IN_PLACE, an address ((void*)-1 in MPICH)
};

class MpiReducer final : public Reducer {
public:
    MpiReducer(const std::string& libmpi, const MpiHandles& handles);
    ~MpiReducer() override;
    MpiReducer(const MpiReducer&) = delete;
    MpiReducer& operator=(const MpiReducer&) = delete;

    void sum(void* buf, idx count, ReduceType type) override;
    void max(void* buf, idx count, ReduceType type) override;
    int rank() const override { return rank_; }
    int size() const override { return size_; }

private:
    using AllreduceFn = int (*)(const void*, void*, int, int, int, int);
    using ErrorStringFn = int (*)(int, char*, int*);
    void* lib_ = nullptr;
    AllreduceFn allreduce_ = nullptr;
    ErrorStringFn error_string_ = nullptr;
    MpiHandles h_;
    int rank_ = 0, size_ = 1;
    void allreduce(void* buf, idx count, ReduceType type, int op);
    [[noreturn]] void fail(const char* what, int code) const;
};

}  // namespace pynn
