// Shared basics of the core: index type, the thread count of the current call,
// and the error type that the bindings turn into a Python ValueError.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace pynn {

using idx = std::int64_t;  // sizes and offsets; BLAS calls narrow to int after a check

// Bad input that slipped past the Python checks: becomes ValueError in Python.
struct InputError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

// Training produced a non-finite loss: becomes pynn.DivergenceError in Python.
struct DivergenceError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A buffer too large for this machine (or whose size overflows): becomes MemoryError
// with this message, which names the sizes, instead of a bare std::bad_alloc.
struct AllocationError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Raised from the batch loop when the interrupt check asks it to stop (Ctrl-C).
struct Interrupted : std::runtime_error {
    Interrupted() : std::runtime_error("interrupted") {}
    explicit Interrupted(const std::string& why) : std::runtime_error(why) {}
};

// Threads used by the parallel loops of the current call. Set once per entry point
// (ThreadScope) so kernels need no extra argument; thread_local because models may
// run concurrently from several Python threads.
int current_threads();
struct ThreadScope {
    explicit ThreadScope(int n);
    ~ThreadScope();
    int previous;
};

// Below this many elements an elementwise loop is not worth waking a second thread.
constexpr idx kParallelGrain = 1 << 15;

// A function compiled three times (x86-64-v4, i.e. AVX-512; AVX2; baseline x86-64), the
// loader picking the widest the CPU runs: for portable loops that the baseline build keeps
// 4 lanes wide or scalar. Only for code whose bits cannot depend on the clone (integer
// work, single roundings, exact products): a clone may fuse a multiply and an add.
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(__clang__)
#define PYNN_X86_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define PYNN_X86_CLONES
#endif

}  // namespace pynn
