// Allocation of the network's buffers with errors a user can act on: sizes that overflow,
// buffers larger than the memory available (checked before Linux's overcommit lets a zero
// fill get the process killed). Used by network/ only.
#pragma once
#include <cstdint>
#include <cstdio>
#include <new>
#include <string>

#include "aligned.h"
#include "common.h"

namespace pynn {

// a + b * c for sizes, or AllocationError when it overflows int64 (signed overflow
// would be undefined behaviour and, in practice, a negative size).
idx checked_add_mul(idx a, idx b, idx c, const char* what);

// Bytes this process can still fill without the kernel's OOM killer stepping in: Linux
// overcommits, so a too-large std::vector is not always a bad_alloc -- its zero fill can
// get the whole process killed instead. Best effort: MemAvailable, lowered by a cgroup v2
// limit when there is one; "unknown" (max) elsewhere.
double available_bytes();

// v = n zeros, or AllocationError naming what did not fit and how large it was.
template <typename T>
inline void assign_zeros(Buffer<T>& v, idx n, const std::string& what) {
    const double bytes = static_cast<double>(n) * sizeof(T);
    auto fail = [&](const char* why) {
        char gib[32];
        std::snprintf(gib, sizeof gib, "%.3g", bytes / 1073741824.0);
        throw AllocationError(what + " needs " + std::to_string(n) + " values (" + gib + " GiB), " + why);
    };
    if (static_cast<std::uint64_t>(n) > v.max_size()) fail("more than can be allocated");
    constexpr double kCheckAbove = 64.0 * 1024 * 1024;  // small buffers: not worth reading /proc
    if (bytes > kCheckAbove && bytes > static_cast<double>(v.capacity()) * sizeof(T) &&
        bytes > available_bytes())
        fail("more than the memory available");
    try {
        v.assign(static_cast<size_t>(n), T(0));
    } catch (const std::bad_alloc&) {
        fail("which could not be allocated");
    }
}

}  // namespace pynn
