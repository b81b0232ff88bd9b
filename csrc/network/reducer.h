// The gradient reduction hook of data-parallel training. Each process trains on its own
// rows; train_epoch, given a Reducer, sums every step's flat gradient buffer across the
// processes (one in-place sum per step) so that every process applies the update of the
// union batch (csrc/network/train_epoch_reduced.cpp). csrc/distributed/ implements it on
// MPI; the network knows only this interface.
#pragma once
#include <cstdint>

#include "common.h"

namespace pynn {

enum class ReduceType : int { f32, f64, i64 };

template <typename T>
constexpr ReduceType reduce_type_of();
template <>
constexpr ReduceType reduce_type_of<float>() { return ReduceType::f32; }
template <>
constexpr ReduceType reduce_type_of<double>() { return ReduceType::f64; }
template <>
constexpr ReduceType reduce_type_of<std::int64_t>() { return ReduceType::i64; }

// Collectives over all processes of one run: every process makes the same calls in the
// same order with the same counts, or the run blocks. Every process must receive
// bit-identical results (MPI's in-place Allreduce of a commutative sum does), so their
// parameters never drift apart. A failed call throws ReduceError.
class Reducer {
public:
    virtual ~Reducer() = default;
    virtual void sum(void* buf, idx count, ReduceType type) = 0;  // in place
    virtual void max(void* buf, idx count, ReduceType type) = 0;  // in place
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // Wall time inside sum/max and their number: what data parallelism costs per epoch.
    double seconds = 0.0;
    std::int64_t calls = 0;
    // Set by fit's SIGINT handler (pynn/distributed/mpi.py) instead of raising: a Ctrl-C
    // wherever this process is -- in a step, or in Python between epochs -- stops every
    // process together at the next step (reduced_epoch), never one alone in a collective.
    bool stop_requested = false;
};

// A collective that failed (the MPI error string): becomes RuntimeError in Python.
struct ReduceError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace pynn
