// Test-only bindings of the tile kernels (kernels/tile_bf16.h): float32 NumPy in, float32
// out, the bf16 packing done here with the avx512 packers (so they need AVX512_BF16).
// backend "scalar" or "amx" picks the tile backend; "avx512" runs the existing vdpbf16ps
// kernels on the same operands, for comparison. tests/test_tile_bf16.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "dispatch/cpu.h"
#include "kernels/tile_bf16.h"
#include "kernels/avx512.h"
#include "kernels/avx512_bf16.h"

namespace py = pybind11;

namespace pynn {
namespace {

using F32 = py::array_t<float, py::array::c_style | py::array::forcecast>;

enum class Which { scalar, amx, avx512 };

Which parse_backend(const std::string& name) {
    if (!cpu_info().avx512_bf16)
        throw InputError("the tile kernel tests pack operands with the avx512 bf16 packers: this CPU has no AVX512_BF16");
    if (name == "scalar") return Which::scalar;
    if (name == "amx") {
        if (!tile::amx_usable())
            throw InputError(std::string("backend 'amx': this CPU or OS cannot run AMX-BF16 tiles (") +
                             tile::amx_status() + ")");
        return Which::amx;
    }
    if (name == "avx512") return Which::avx512;
    throw InputError("backend must be 'scalar', 'amx' or 'avx512', got '" + name + "'");
}

// Buffer sizes: exact (so the sanitizers see any read past an operand), never 0.
size_t slots(idx n) { return n > 0 ? static_cast<size_t>(n) : 1; }

tile::TileBackend tile_backend(Which w) { return w == Which::amx ? tile::TileBackend::amx : tile::TileBackend::scalar; }

EpilogueAct parse_epilogue_act(const std::string& name) {
    if (name == "identity") return EpilogueAct::identity;
    if (name == "relu") return EpilogueAct::relu;
    if (name == "leaky_relu") return EpilogueAct::leaky_relu;
    throw InputError("act must be 'identity', 'relu' or 'leaky_relu', got '" + name + "'");
}

void check_shape(const F32& a, idx rows, idx cols, const char* name) {
    if (a.ndim() != 2 || a.shape(0) != rows || a.shape(1) != cols)
        throw InputError(std::string(name) + " must have shape (" + std::to_string(rows) + ", " + std::to_string(cols) + ")");
}

void check_2d(const F32& a, const char* name) {
    if (a.ndim() != 2) throw InputError(std::string(name) + " must be 2-D");
}

// Y = act(X W^T + b): X (B,I), W (O,I), b (O) or None.
F32 forward(const std::string& backend, F32 X, F32 W, std::optional<F32> b, const std::string& act_name, float alpha) {
    const Which w = parse_backend(backend);
    const EpilogueAct act = parse_epilogue_act(act_name);
    check_2d(X, "X");
    check_2d(W, "W");
    const idx B = X.shape(0), I = X.shape(1), O = W.shape(0);
    check_shape(W, O, I, "W");
    if (b && (b->ndim() != 1 || b->shape(0) != O)) throw InputError("b must have shape (" + std::to_string(O) + ",)");
    F32 Y({B, O});
    const float *x = X.data(), *wt = W.data(), *bias = b ? b->data() : nullptr;
    float* y = Y.mutable_data();
    {
        py::gil_scoped_release release;
        const idx I2 = (I + 1) / 2, npan = avx512::panel_count(O);
        std::vector<std::uint32_t> Xb(slots(B * I2)), P(slots(npan * I2 * avx512::kPanel));
        for (idx r = 0; r < B; ++r) avx512::row_to_bf16(Xb.data() + r * I2, x + r * I, I);
        for (idx p = 0; p < npan; ++p) avx512::pack_panel_bf16(P.data(), wt, O, I, p);
        if (w == Which::avx512)
            avx512::dense_forward_bf16(y, Xb.data(), P.data(), bias, B, I, O, act, alpha);
        else
            tile::dense_forward(tile_backend(w), y, Xb.data(), P.data(), bias, B, I, O, act, alpha);
    }
    return Y;
}

// dX = (dY W) * act'(y_prev): dY (B,O), W (O,I), y_prev (B,I) or None.
F32 backward_dx(const std::string& backend, F32 dY, F32 W, std::optional<F32> y_prev, const std::string& act_name,
                float alpha) {
    const Which w = parse_backend(backend);
    const EpilogueAct act = parse_epilogue_act(act_name);
    check_2d(dY, "dY");
    check_2d(W, "W");
    const idx B = dY.shape(0), O = dY.shape(1), I = W.shape(1);
    check_shape(W, O, I, "W");
    if (y_prev) check_shape(*y_prev, B, I, "y_prev");
    F32 dX({B, I});
    const float *d = dY.data(), *wt = W.data(), *yp = y_prev ? y_prev->data() : nullptr;
    float* dx = dX.mutable_data();
    {
        py::gil_scoped_release release;
        const idx O2 = (O + 1) / 2;
        std::vector<std::uint32_t> dYb(slots(B * O2)), Wp(slots(O2 * I));
        for (idx r = 0; r < B; ++r) avx512::row_to_bf16(dYb.data() + r * O2, d + r * O, O);
        for (idx p = 0; p < avx512::panel_count(O); ++p) avx512::pack_row_pairs_bf16(Wp.data(), wt, O, I, p);
        if (w == Which::avx512)
            avx512::dense_backward_dx_bf16(dx, dYb.data(), Wp.data(), B, I, O, yp, act, alpha);
        else
            tile::dense_backward_dx(tile_backend(w), dx, dYb.data(), Wp.data(), B, I, O, yp, act, alpha);
    }
    return dX;
}

// (dW = dY^T X, db = column sums of dY or None, all written values finite): dY (B,O), X (B,I).
py::tuple backward_dw(const std::string& backend, F32 dY, F32 X, bool with_db) {
    const Which w = parse_backend(backend);
    check_2d(dY, "dY");
    check_2d(X, "X");
    const idx B = dY.shape(0), O = dY.shape(1), I = X.shape(1);
    check_shape(X, B, I, "X");
    F32 dW({O, I});
    F32 db(std::vector<py::ssize_t>{with_db ? O : 0});
    const float *d = dY.data(), *x = X.data();
    float *dw = dW.mutable_data(), *dbp = with_db ? db.mutable_data() : nullptr;
    bool finite = true;
    {
        py::gil_scoped_release release;
        const idx B2 = (B + 1) / 2;
        std::vector<std::uint32_t> Xp(slots(B2 * I)), Dy(slots(B2 * O));
        for (idx q = 0; q < B2; ++q)
            avx512::rows_to_bf16_pairs(Xp.data() + q * I, x + 2 * q * I, 2 * q + 1 < B ? x + (2 * q + 1) * I : nullptr, I);
        const idx npan = avx512::panel_count(I);
        if (w == Which::avx512) {
            for (idx q = 0; q < B2; ++q)  // dY's row pairs
                avx512::rows_to_bf16_pairs(Dy.data() + q * O, d + 2 * q * O, 2 * q + 1 < B ? d + (2 * q + 1) * O : nullptr, O);
            for (idx o0 = 0; o0 < O; o0 += avx512::kTileRows)
                for (idx p = 0; p < npan || (p == 0 && dbp); ++p)
                    finite &= avx512::dw_tile_bf16(dw, dbp, d, Dy.data(), Xp.data(), B, I, O, o0,
                                                   static_cast<int>(std::min<idx>(avx512::kTileRows, O - o0)), p);
        } else {
            // dY transposed, in two calls (as two threads would convert their own rows).
            const idx half = B2 / 2;
            tile::cols_to_bf16_pairs(Dy.data(), d, B, O, 0, half);
            tile::cols_to_bf16_pairs(Dy.data(), d, B, O, half, B2);
            const tile::TileBackend tb = tile_backend(w);
            for (idx o0 = 0; o0 < O; o0 += tile::kTileRows)
                for (idx p = 0; p < npan || (p == 0 && dbp); ++p)
                    finite &= tile::dw_tile(tb, dw, dbp, d, Dy.data(), Xp.data(), B, I, O, o0,
                                            static_cast<int>(std::min<idx>(tile::kTileRows, O - o0)), p);
            tile::release_tiles(tb);
        }
    }
    return py::make_tuple(dW, with_db ? py::object(db) : py::object(py::none()), finite);
}

}  // namespace

void bind_tile_kernels(py::module_& m) {
    m.def("amx_usable", &tile::amx_usable,
          "The CPU has AMX-TILE and AMX-BF16, the OS enables them, and Linux granted this process tile data.");
    m.def("amx_status", &tile::amx_status, "'usable', or why amx_usable() is false.");
    m.def("_tile_forward", &forward, py::arg("backend"), py::arg("X"), py::arg("W"), py::arg("b") = py::none(),
          py::arg("act") = "identity", py::arg("alpha") = 0.0f);
    m.def("_tile_dx", &backward_dx, py::arg("backend"), py::arg("dY"), py::arg("W"), py::arg("y_prev") = py::none(),
          py::arg("act") = "identity", py::arg("alpha") = 0.0f);
    m.def("_tile_dw", &backward_dw, py::arg("backend"), py::arg("dY"), py::arg("X"), py::arg("with_db") = true);
}

}  // namespace pynn
