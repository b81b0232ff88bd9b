// The AMX backend (csrc/kernels/tile_amx.cpp) on CPUs without AMX: this program compiles
// that file with its tile intrinsics replaced by a software tile machine (the SDM's
// LDTILECFG, STTILECFG, TILERELEASE, TILEZERO, TILELOADD, TILESTORED, TDPBF16PS, with
// their fault checks), then runs amx_block against the scalar backend's run_block on
// every block shape. It checks what only the AMX file does -- tile numbers, operand order,
// byte strides, the thread-local config cache and its check against STTILECFG, release --
// not the silicon. Built and run by tests/core/test_tile_amx_emulated.py; exit status 0 = pass.
#include "kernels/tile_bf16.cpp"  // the scalar backend, run_block, fma_daz_ftz, add_daz_ftz

#include <immintrin.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace pynn {
int current_threads() { return 1; }
}  // namespace pynn

namespace emu {
using pynn::idx;
using pynn::tile::detail::TileConfig;

struct Fault {};
TileConfig cfg;
bool configured = false;
std::uint32_t reg[8][16][16];
long loadconfigs = 0;

void need(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fault: %s\n", what);
        std::exit(3);
    }
}
void valid(int t) { need(configured && t >= 0 && t < 8 && cfg.rows[t] > 0, "tile not configured (#UD)"); }

void loadconfig(const void* p) {
    std::memcpy(&cfg, p, 64);
    ++loadconfigs;
    need(cfg.palette == 1, "palette");
    for (int t = 0; t < 16; ++t)
        need(cfg.rows[t] <= (t < 8 ? 16 : 0) && cfg.colsb[t] <= (t < 8 ? 64 : 0), "rows/colsb (#GP)");
    configured = true;
    std::memset(reg, 0, sizeof reg);
}
void storeconfig(void* p) {
    if (configured)
        std::memcpy(p, &cfg, 64);
    else
        std::memset(p, 0, 64);
}
void release() {
    configured = false;
    std::memset(reg, 0, sizeof reg);
}
void zero(int t) {
    valid(t);
    std::memset(reg[t], 0, sizeof reg[t]);
}
void loadd(int t, const void* base, long stride) {
    valid(t);
    std::memset(reg[t], 0, sizeof reg[t]);
    for (int r = 0; r < cfg.rows[t]; ++r)
        std::memcpy(reg[t][r], static_cast<const unsigned char*>(base) + r * stride, cfg.colsb[t]);
}
void stored(int t, void* base, long stride) {
    valid(t);
    for (int r = 0; r < cfg.rows[t]; ++r) std::memcpy(static_cast<unsigned char*>(base) + r * stride, reg[t][r], cfg.colsb[t]);
}
void dp(int c, int a, int b) {
    using namespace pynn::tile::detail;
    valid(c), valid(a), valid(b);
    need(c != a && c != b && a != b, "distinct tiles");
    need(cfg.colsb[a] / 4 == cfg.rows[b] && cfg.rows[c] == cfg.rows[a] && cfg.colsb[c] == cfg.colsb[b], "shapes (#UD)");
    // The SDM's per-instruction even and odd FP32 chains, then c + (even + odd).
    for (int m = 0; m < cfg.rows[c]; ++m)
        for (int n = 0; n < cfg.colsb[c] / 4; ++n) {
            float even = 0.0f, odd = 0.0f;
            for (int k = 0; k < cfg.colsb[a] / 4; ++k) {
                even = fma_daz_ftz(bf16_daz(reg[a][m][k] & 0xFFFFu), bf16_daz(reg[b][k][n] & 0xFFFFu), even);
                odd = fma_daz_ftz(bf16_daz(reg[a][m][k] >> 16), bf16_daz(reg[b][k][n] >> 16), odd);
            }
            reg[c][m][n] = as_bits(add_daz_ftz(as_float(reg[c][m][n]), add_daz_ftz(even, odd)));
        }
}
}  // namespace emu

#undef _tile_loadd
#undef _tile_stored
#undef _tile_zero
#undef _tile_dpbf16ps
#define _tile_loadconfig(p) emu::loadconfig(p)
#define _tile_storeconfig(p) emu::storeconfig(p)
#define _tile_release() emu::release()
#define _tile_zero(t) emu::zero(t)
#define _tile_loadd(t, base, stride) emu::loadd(t, base, stride)
#define _tile_stored(t, base, stride) emu::stored(t, base, stride)
#define _tile_dpbf16ps(c, a, b) emu::dp(c, a, b)

#include "kernels/tile_amx.cpp"

#if !(defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__linux__))
#error "build with -mamx-tile -mamx-bf16 on Linux: the AMX backend is the code under test"
#endif

using pynn::idx;
using namespace pynn::tile::detail;

// A block of M x N over K pairs whose operands sit in exact-size heap buffers (ASan sees
// any read past them), with row strides wider than the block (a_rs >= K, b_rs >= N).
static int check(std::mt19937& rng, int M, int N, idx K, idx a_extra, idx b_extra) {
    const idx a_rs = K + a_extra, b_rs = N + b_extra;
    // The block reads rows < M of A up to pair K and pair rows < K of B up to column N:
    // the last row needs only its used part.
    std::vector<std::uint32_t> A(static_cast<size_t>((M - 1) * a_rs + K) + (K == 0));
    std::vector<std::uint32_t> B(static_cast<size_t>(K > 0 ? (K - 1) * b_rs + N : 1));
    std::uniform_int_distribution<std::uint32_t> bits(0, 0xFFFFFFFFu);
    for (auto& v : A) v = bits(rng) & 0xBFFFBFFFu;  // exponents below 128: finite bf16 of moderate range
    for (auto& v : B) v = bits(rng) & 0xBFFFBFFFu;
    const Block s{A.data(), a_rs, B.data(), b_rs, K, M, N};
    alignas(64) float ref[16 * 32], got[16 * 32];
    for (int i = 0; i < 16 * 32; ++i) ref[i] = got[i] = -1.5f;  // what neither may overwrite
    run_block(pynn::tile::TileBackend::scalar, s, ref);
    amx_block(s, got);
    if (std::memcmp(ref, got, sizeof ref) != 0) {
        std::fprintf(stderr, "mismatch: M %d N %d K %lld\n", M, N, static_cast<long long>(K));
        return 1;
    }
    return 0;
}

int main() {
    std::mt19937 rng(7);
    int bad = 0;
    const idx Ks[] = {0, 1, 2, 15, 16, 17, 31, 32, 33, 351};
    for (int M = 1; M <= 16; ++M)
        for (int N = 1; N <= 32; ++N)
            for (idx K : Ks) bad += check(rng, M, N, K, (M + N) % 3, (M * N) % 5);
    // The config cache: the same shape again loads no config; a release by someone else
    // (or another library's config) is noticed through STTILECFG.
    const long before = emu::loadconfigs;
    bad += check(rng, 16, 32, 40, 0, 0);
    bad += check(rng, 16, 32, 40, 0, 0);
    if (emu::loadconfigs != before + 1) {
        std::fprintf(stderr, "config reloaded for an unchanged shape (%ld loads)\n", emu::loadconfigs - before);
        ++bad;
    }
    emu::release();  // as a foreign TILERELEASE would
    bad += check(rng, 16, 32, 40, 0, 0);
    TileConfig other = config_for(3, 5, 7);
    emu::loadconfig(&other);  // a foreign config
    bad += check(rng, 16, 32, 40, 0, 0);
    amx_release();
    if (emu::configured) {
        std::fprintf(stderr, "amx_release left the tiles configured\n");
        ++bad;
    }
    bad += check(rng, 5, 17, 3, 1, 1);  // usable again after our own release
    std::printf("%s: %d mismatches\n", bad ? "FAIL" : "ok", bad);
    return bad ? 1 : 0;
}
