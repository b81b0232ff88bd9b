// The AMX backend of tile_block.h: TILELOADD / TDPBF16PS / TILESTORED on the tile registers.
// This file alone is compiled with -mamx-tile -mamx-bf16 (CMakeLists.txt) and only those:
// no AVX-512 flag, so the compiler emits nothing but baseline code besides the tile
// intrinsics below, which run only after amx_usable() (tile_bf16.cpp) said yes.
#include "kernels/tile_block.h"

#if defined(__x86_64__) && defined(__linux__) && defined(__AMX_TILE__) && defined(__AMX_BF16__)
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace pynn {
namespace tile {
namespace detail {
namespace {

// GCC 12's tile intrinsics tell the compiler about none of the memory they read
// (_tile_loadd, _tile_loadconfig: only 8 of its 64 bytes) or write (_tile_storeconfig: 8
// of 64): a compiler barrier before each read keeps earlier stores of operands in place,
// one after each write makes the compiler read what was written.
inline void memory_barrier() { __asm__ __volatile__("" ::: "memory"); }

// The configuration this thread's tiles hold, as far as this file knows. Other code in the
// thread (another library's AMX kernels) may load or release its own, so configure()
// compares with what STTILECFG reports before it trusts this copy.
thread_local TileConfig t_config;
thread_local bool t_configured = false;

struct AmxTiles {
    void configure(const TileConfig& c) {
        alignas(64) TileConfig now;
        _tile_storeconfig(&now);
        memory_barrier();
        if (t_configured && now == t_config && c == t_config) return;
        t_config = c;
        memory_barrier();
        _tile_loadconfig(&t_config);
        t_configured = true;
    }
    // The intrinsics paste the tile number into the instruction text: it must be a literal.
    template <int T>
    void zero() {
        if constexpr (T == kC0) _tile_zero(0);
        else if constexpr (T == kC1) _tile_zero(1);
        else static_assert(T == kC0 || T == kC1, "only C tiles are zeroed");
    }
    template <int T>
    void load(const std::uint32_t* base, idx stride) {
        memory_barrier();
        if constexpr (T == kA) _tile_loadd(2, base, stride);
        else if constexpr (T == kB0) _tile_loadd(3, base, stride);
        else if constexpr (T == kB1) _tile_loadd(4, base, stride);
        else if constexpr (T == kAt) _tile_loadd(5, base, stride);
        else if constexpr (T == kBt0) _tile_loadd(6, base, stride);
        else if constexpr (T == kBt1) _tile_loadd(7, base, stride);
        else static_assert(T >= kA && T <= kBt1, "operand tiles are 2..7");
    }
    template <int T>
    void store(float* base, idx stride) {
        if constexpr (T == kC0) _tile_stored(0, base, stride);
        else if constexpr (T == kC1) _tile_stored(1, base, stride);
        else static_assert(T == kC0 || T == kC1, "only C tiles are stored");
    }
    template <int C, int A, int B>
    void dp() {
        if constexpr (C == kC0 && A == kA && B == kB0) _tile_dpbf16ps(0, 2, 3);
        else if constexpr (C == kC1 && A == kA && B == kB1) _tile_dpbf16ps(1, 2, 4);
        else if constexpr (C == kC0 && A == kAt && B == kBt0) _tile_dpbf16ps(0, 5, 6);
        else if constexpr (C == kC1 && A == kAt && B == kBt1) _tile_dpbf16ps(1, 5, 7);
        else static_assert(C < 0, "no such tile product in tile_block");
    }
};

}  // namespace

bool amx_built() { return true; }

int amx_request_permission() {
    // Linux hands out the 8 KB XTILEDATA state on request only; without the grant the first
    // tile instruction is a SIGILL. 0x1023 = ARCH_REQ_XCOMP_PERM, 18 = XFEATURE_XTILEDATA.
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0 ? 0 : errno;
}

void amx_block(const Block& s, float* acc) {
    AmxTiles t;
    tile_block(t, s, acc);
    memory_barrier();  // _tile_stored wrote acc
}

void amx_release() {
    _tile_release();
    t_configured = false;
}

}  // namespace detail
}  // namespace tile
}  // namespace pynn

#else
#include <stdexcept>

namespace pynn {
namespace tile {
namespace detail {
bool amx_built() { return false; }
int amx_request_permission() { return -1; }
void amx_block(const Block&, float*) { throw std::logic_error("AMX tile kernels not built"); }
void amx_release() {}
}  // namespace detail
}  // namespace tile
}  // namespace pynn
#endif
