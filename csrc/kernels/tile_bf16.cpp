// Tile kernels of tile_bf16.h: the scalar tile backend, the shared epilogue, the dispatch
// to scalar or AMX blocks (tile_block.h) and the loops over tiles. Portable C++: this file
// is built for baseline x86-64 (or any other CPU) like the rest of the library.
#include "kernels/tile_bf16.h"

#include <omp.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/blocking.h"
#include "kernels/column_sums.h"
#include "kernels/tile_block.h"

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
#include <cpuid.h>
#endif

namespace pynn {
namespace tile {
namespace detail {
namespace {

inline float as_float(std::uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline std::uint32_t as_bits(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

// A bfloat16 operand as float32 with denormals read as (signed) zero: make_fp32 of the
// SDM's TDPBF16PS pseudo-code under DAZ.
inline float bf16_daz(std::uint32_t h) {
    const std::uint32_t u = h << 16;
    return as_float((u & 0x7F800000u) ? u : (u & 0x80000000u));
}

// c + a * b rounded once to float32 (nearest even), a denormal c read as zero and a denormal
// result flushed to a zero of its sign: TDPBF16PS's "FP32 FMA with DAZ=FTZ=1, RNE rounding".
// a * b of two bf16 is exact in float32 unless it over- or underflows; then fmaf.
inline float fma_daz_ftz(float a, float b, float c) {
    if (!(as_bits(c) & 0x7F800000u)) c = as_float(as_bits(c) & 0x80000000u);
    const float p = a * b;
    float r;
    if (static_cast<double>(p) == static_cast<double>(a) * static_cast<double>(b))
        r = p + c;
    else
        r = std::fmaf(a, b, c);
    if (!(as_bits(r) & 0x7F800000u)) r = as_float(as_bits(r) & 0x80000000u);
    return r;
}

// a + b rounded to float32 (nearest even), with DAZ and FTZ.
inline float add_daz_ftz(float a, float b) {
    if (!(as_bits(a) & 0x7F800000u)) a = as_float(as_bits(a) & 0x80000000u);
    if (!(as_bits(b) & 0x7F800000u)) b = as_float(as_bits(b) & 0x80000000u);
    float r = a + b;
    if (!(as_bits(r) & 0x7F800000u)) r = as_float(as_bits(r) & 0x80000000u);
    return r;
}

// One element of TDPBF16PS as the Intel SDM pseudo-code has it: over the k pairs of one
// instruction, the even and the odd products are summed apart (two FP32 FMA chains from 0),
// then c + (even + odd). (The Intrinsics Guide shows one chain through c, even then odd
// product per k: a different rounding; tests/test_tile_bf16.py tells them apart.)
// a, b: K pairs each, b's pairs b_rs apart.
inline float tdpbf16ps_element(float c, const std::uint32_t* a, const std::uint32_t* b, idx b_rs, int K) {
    float even = 0.0f, odd = 0.0f;
    for (int k = 0; k < K; ++k) {
        const std::uint32_t x = a[k], y = b[k * b_rs];
        even = fma_daz_ftz(bf16_daz(x & 0xFFFFu), bf16_daz(y & 0xFFFFu), even);
        odd = fma_daz_ftz(bf16_daz(x >> 16), bf16_daz(y >> 16), odd);
    }
    return add_daz_ftz(c, add_daz_ftz(even, odd));
}

// Eight tile registers of 16 rows x 64 bytes and their configuration, updated as the Intel
// SDM pseudo-code of LDTILECFG, TILEZERO, TILELOADD, TILESTORED and TDPBF16PS says (palette
// 1). The checks that make the instructions fault (#GP / #UD) throw std::logic_error, so a
// blocking bug shows up on CPUs without AMX too.
struct ScalarTiles {
    TileConfig cfg;
    bool configured = false;
    std::uint32_t reg[8][16][16];

    void configure(const TileConfig& c) {
        if (configured && c == cfg) return;
        if (c.palette != 1) throw std::logic_error("LDTILECFG: palette must be 1");
        for (int t = 0; t < 16; ++t) {
            const bool exists = t < 8;
            if (c.rows[t] > (exists ? 16 : 0) || c.colsb[t] > (exists ? 64 : 0) || c.colsb[t] % 4 != 0 ||
                (c.rows[t] == 0) != (c.colsb[t] == 0))
                throw std::logic_error("LDTILECFG: bad rows/colsb for tile " + std::to_string(t));
        }
        cfg = c;
        configured = true;
        std::memset(reg, 0, sizeof reg);  // LDTILECFG zeroes the tile data
    }
    void check_valid(int t) const {
        if (!configured || cfg.rows[t] == 0) throw std::logic_error("tile " + std::to_string(t) + " not configured");
    }
    template <int T>
    void zero() {
        check_valid(T);
        std::memset(reg[T], 0, sizeof reg[T]);
    }
    template <int T>
    void load(const std::uint32_t* base, idx stride) {
        check_valid(T);
        const auto* src = reinterpret_cast<const unsigned char*>(base);
        std::memset(reg[T], 0, sizeof reg[T]);  // bytes past colsb and rows past rows are zero
        for (int r = 0; r < cfg.rows[T]; ++r) std::memcpy(reg[T][r], src + r * stride, cfg.colsb[T]);
    }
    template <int T>
    void store(float* base, idx stride) {
        check_valid(T);
        auto* dst = reinterpret_cast<unsigned char*>(base);
        for (int r = 0; r < cfg.rows[T]; ++r) std::memcpy(dst + r * stride, reg[T][r], cfg.colsb[T]);
    }
    // C (M x N floats) += A (M x K pairs) B (K pair rows x N pairs), element by element as
    // tdpbf16ps_element.
    template <int C, int A, int B>
    void dp() {
        check_valid(C);
        check_valid(A);
        check_valid(B);
        if (cfg.colsb[A] / 4 != cfg.rows[B] || cfg.rows[C] != cfg.rows[A] || cfg.colsb[C] != cfg.colsb[B])
            throw std::logic_error("TDPBF16PS: tile shapes do not match");
        const int M = cfg.rows[C], N = cfg.colsb[C] / 4, K = cfg.colsb[A] / 4;
        for (int m = 0; m < M; ++m)
            for (int n = 0; n < N; ++n)
                reg[C][m][n] = as_bits(tdpbf16ps_element(as_float(reg[C][m][n]), reg[A][m], &reg[B][0][n], 16, K));
    }
};

// acc rows < M, columns < N: the block's product (rows 32 floats apart).
void run_block(TileBackend backend, const Block& s, float* acc) {
    if (backend == TileBackend::amx) {
        amx_block(s, acc);
    } else {
        ScalarTiles t;
        tile_block(t, s, acc);
    }
}

// C rows < M, columns < N (rows ldc apart) = epilogue(acc); false when a stored value is
// inf or NaN. One loop per kind of epilogue, so each inner loop is branch-free (and
// vectorizes at whatever the build targets).
template <EpilogueKind kind, EpilogueAct act>
bool store_rows(const float* acc, int M, int N, float* C, idx ldc, const Epilogue& e) {
    static const float kZeros[32] = {};
    const float* bias = e.bias ? e.bias : kZeros;  // + 0 as the vector code does (-0 becomes +0)
    const float alpha = e.alpha;
    bool finite = true;
    for (int r = 0; r < M; ++r) {
        const float* a = acc + r * 32;
        const float* y = kind == EpilogueKind::act_grad ? e.y_prev + r * e.ld_prev : nullptr;
        float* c = C + r * ldc;
        for (int n = 0; n < N; ++n) {
            float z = a[n];
            if (kind == EpilogueKind::bias_act) {
                z += bias[n];
                if (act == EpilogueAct::relu) z = z > 0.0f ? z : 0.0f;  // vmaxps(z, 0): NaN gives 0
                if (act == EpilogueAct::leaky_relu) z = z <= 0.0f ? z * alpha : z;
            } else if (kind == EpilogueKind::act_grad) {
                // relu / leaky relu (alpha >= 0): the derivative is 1 where the output is > 0.
                if (act == EpilogueAct::relu) z = y[n] <= 0.0f ? 0.0f : z;
                if (act == EpilogueAct::leaky_relu) z = y[n] <= 0.0f ? z * alpha : z;
            }
            finite &= std::isfinite(z);
            c[n] = z;
        }
    }
    return finite;
}

bool store_block(const float* acc, int M, int N, float* C, idx ldc, const Epilogue& e) {
    const EpilogueAct act = e.kind == EpilogueKind::store ? EpilogueAct::identity : e.act;
    const EpilogueKind kind = act == EpilogueAct::identity && e.kind == EpilogueKind::act_grad ? EpilogueKind::store : e.kind;
    if (kind == EpilogueKind::bias_act) {
        if (act == EpilogueAct::relu) return store_rows<EpilogueKind::bias_act, EpilogueAct::relu>(acc, M, N, C, ldc, e);
        if (act == EpilogueAct::leaky_relu) return store_rows<EpilogueKind::bias_act, EpilogueAct::leaky_relu>(acc, M, N, C, ldc, e);
        return store_rows<EpilogueKind::bias_act, EpilogueAct::identity>(acc, M, N, C, ldc, e);
    }
    if (kind == EpilogueKind::act_grad) {
        if (act == EpilogueAct::relu) return store_rows<EpilogueKind::act_grad, EpilogueAct::relu>(acc, M, N, C, ldc, e);
        return store_rows<EpilogueKind::act_grad, EpilogueAct::leaky_relu>(acc, M, N, C, ldc, e);
    }
    return store_rows<EpilogueKind::store, EpilogueAct::identity>(acc, M, N, C, ldc, e);
}

// Caller errors, checked before any tile is touched (the loops check before their parallel
// region: an exception cannot leave one).
void require(TileBackend backend, int rows = 1) {
    if (backend == TileBackend::amx && !amx_usable())
        throw std::logic_error("tile backend 'amx' called where amx_usable() is false");
    if (rows > kTileRows) throw std::logic_error("a tile has at most 16 rows, got " + std::to_string(rows));
}

// round to nearest even, denormals to signed zero, NaN quieted: VCVTNE2PS2BF16's
// convert_fp32_to_bfloat16.
inline std::uint32_t to_bf16(float x) {
    const std::uint32_t u = as_bits(x);
    if (!(u & 0x7F800000u)) return (u >> 16) & 0x8000u;
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (u >> 16) | 0x40u;
    return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;  // inf stays inf; the carry may round up to inf
}

}  // namespace
}  // namespace detail

using namespace detail;

namespace {
struct AmxProbe {
    bool usable = false;
    std::string why;
};

AmxProbe probe_amx() {
    AmxProbe r;
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
    if (!amx_built()) {
        r.why = "the AMX kernels are not built (compiler without -mamx-tile -mamx-bf16)";
        return r;
    }
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 22))) {
        r.why = "CPUID: no AMX-TILE/AMX-BF16";
        return r;
    }
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) {  // OSXSAVE: xgetbv works
        r.why = "CPUID: no OSXSAVE";
        return r;
    }
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17)) {
        r.why = "XCR0: the OS does not enable the tile state (XTILECFG, XTILEDATA)";
        return r;
    }
    if (const int err = amx_request_permission()) {
        r.why = "arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) failed: " + std::string(std::strerror(err));
        return r;
    }
    r.usable = true;
    r.why = "usable";
#else
    r.why = "not an x86-64 Linux build";
#endif
    return r;
}

// Checked, and the permission asked, once per process (a function-local static: thread-safe).
const AmxProbe& amx_probe() {
    static const AmxProbe probe = probe_amx();
    return probe;
}
}  // namespace

bool amx_usable() { return amx_probe().usable; }

const char* amx_status() { return amx_probe().why.c_str(); }

void release_tiles(TileBackend backend) {
    if (backend == TileBackend::amx) amx_release();
}

void dense_forward_tile(TileBackend backend, float* Y, const std::uint32_t* Xb, const std::uint32_t* P,
                        const float* b, idx I, idx O, EpilogueAct act, float alpha, idx r0, int rows, idx p) {
    require(backend, rows);
    const idx I2 = (I + 1) / 2, c0 = p * kPanel;
    const int nc = static_cast<int>(O - c0 < kPanel ? O - c0 : kPanel);
    if (rows <= 0 || nc <= 0) return;
    alignas(64) float acc[kTileRows * 32];
    run_block(backend, Block{Xb + r0 * I2, I2, P + p * I2 * kPanel, kPanel, I2, rows, nc}, acc);
    const Epilogue e = Epilogue::bias_activation(b ? b + c0 : nullptr, act, alpha);
    store_block(acc, rows, nc, Y + r0 * O + c0, O, e);
}

void dense_forward(TileBackend backend, float* Y, const std::uint32_t* Xb, const std::uint32_t* P, const float* b,
                   idx B, idx I, idx O, EpilogueAct act, float alpha) {
    require(backend);
    if (B <= 0 || O <= 0) return;
    const RowBlocks rb(B, kTileRows);
    const idx npan = (O + kPanel - 1) / kPanel, tasks = rb.n * npan;
    // Small batches: each thread takes whole weight panels (they stay in its L2 across
    // the row blocks). Large batches (inference): each thread takes whole row blocks.
    const bool panel_major = B <= 256;
#pragma omp parallel num_threads(gemm_threads(B * I * O, tasks))
    {
#pragma omp for schedule(static)
        for (idx t = 0; t < tasks; ++t) {
            const idx p = panel_major ? t / rb.n : t % npan;
            const idx i = panel_major ? t % rb.n : t / npan;
            dense_forward_tile(backend, Y, Xb, P, b, I, O, act, alpha, rb.start(i), rb.rows(i, B), p);
        }
        release_tiles(backend);
    }
}

void dense_backward_dx(TileBackend backend, float* dX, const std::uint32_t* dYb, const std::uint32_t* Wp, idx B,
                       idx I, idx O, const float* y_prev, EpilogueAct act, float alpha) {
    require(backend);
    if (B <= 0 || I <= 0) return;
    const RowBlocks rb(B, kTileRows);
    const idx O2 = (O + 1) / 2, npan = (I + kPanel - 1) / kPanel, tasks = rb.n * npan;
#pragma omp parallel num_threads(gemm_threads(B * I * O, tasks))
    {
        alignas(64) float acc[kTileRows * 32];
#pragma omp for schedule(static)
        for (idx t = 0; t < tasks; ++t) {
            const idx p = t / rb.n, i = t % rb.n;
            const idx r0 = rb.start(i), c0 = p * kPanel;
            const int mr = rb.rows(i, B), nc = static_cast<int>(I - c0 < kPanel ? I - c0 : kPanel);
            run_block(backend, Block{dYb + r0 * O2, O2, Wp + c0, I, O2, mr, nc}, acc);
            const Epilogue e = y_prev ? Epilogue::activation_gradient(y_prev + r0 * I + c0, I, act, alpha) : Epilogue();
            store_block(acc, mr, nc, dX + r0 * I + c0, I, e);
        }
        release_tiles(backend);
    }
}

void cols_to_bf16_pairs(std::uint32_t* Dt, const float* dY, idx B, idx O, idx q0, idx q1) {
    const idx B2 = (B + 1) / 2;
    for (idx q = q0; q < q1; ++q) {
        const float* even = dY + 2 * q * O;
        const float* odd = 2 * q + 1 < B ? even + O : nullptr;
        for (idx o = 0; o < O; ++o) Dt[o * B2 + q] = to_bf16(even[o]) | (odd ? to_bf16(odd[o]) << 16 : 0u);
    }
}

bool dw_tile(TileBackend backend, float* dW, float* db, const float* dY, const std::uint32_t* Dt,
             const std::uint32_t* Xp, idx B, idx I, idx O, idx o0, int rows, idx p) {
    require(backend, rows);
    const idx B2 = (B + 1) / 2, c0 = p * kPanel;
    const int nc = static_cast<int>(I - c0 < kPanel ? I - c0 : kPanel);
    if (rows <= 0) return true;
    bool finite = true;
    if (nc > 0) {
        alignas(64) float acc[kTileRows * 32];
        run_block(backend, Block{Dt + o0 * B2, B2, Xp + c0, I, B2, rows, nc}, acc);
        finite = store_block(acc, rows, nc, dW + o0 * I + c0, I, Epilogue{});
    }
    // The bias gradient rides along with the first column panel, as in avx512::dw_tile_bf16.
    if (db && p == 0) finite &= column_sums(db, dY, B, O, o0, rows);
    return finite;
}

}  // namespace tile
}  // namespace pynn
