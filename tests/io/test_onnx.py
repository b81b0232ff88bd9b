"""ONNX export: the exported graph, run by onnxruntime, gives pynn's predictions for
every activation, every loss, opset 17 (GELU built from Erf) and opset 20 (Gelu)."""
import sys

import numpy as np
import pytest

import pynn

onnx = pytest.importorskip("onnx", reason="ONNX export needs the optional onnx package")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime runs the exported graph")

ACTIVATIONS = {
    "identity": pynn.Identity, "relu": pynn.ReLU, "sigmoid": pynn.Sigmoid, "tanh": pynn.Tanh,
    "leaky_relu": lambda: pynn.LeakyReLU(0.2), "prelu_shared": lambda: pynn.PReLU(1, init=0.3),
    "prelu_per_unit": lambda: pynn.PReLU(12, init=0.1), "elu": lambda: pynn.ELU(0.8), "gelu": pynn.GELU,
    "silu": pynn.SiLU, "softplus": pynn.Softplus, "dropout": lambda: pynn.Dropout(0.5),
}


def _data(n=50, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(scale=2.0, size=(n, d)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 1)


def _run(path, X):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits, probabilities = session.run(["logits", "probabilities"], {"input": X})
    return logits, probabilities


def _expected(model, X):
    return model.predict(X) if model.loss == "mse" else model.predict_proba(X)


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_activation_matches_predict_proba(tmp_path, name, opset):
    X, y = _data()
    model = pynn.Sequential([pynn.Dense(5, 12), ACTIVATIONS[name](), pynn.Dense(12, 3)], seed=4)
    model.fit(X, y, epochs=3, batch_size=10, optimizer=pynn.Adam(lr=0.05), verbose=0)  # weights away from init
    model.to_onnx(tmp_path / "m.onnx", opset=opset)
    proto = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == opset
    ops = {n.op_type for n in proto.graph.node}
    assert "Dropout" not in ops and ("Gelu" in ops) == (name == "gelu" and opset >= 20)
    logits, probabilities = _run(tmp_path / "m.onnx", X)
    np.testing.assert_allclose(probabilities, model.predict_proba(X), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(logits, model.forward(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "binary_cross_entropy", "mse"])
def test_every_loss_has_its_output(tmp_path, loss):
    X, y = _data()
    model = pynn.Sequential([pynn.Dense(5, 8), pynn.Tanh(), pynn.Dense(8, 2, use_bias=False), pynn.ELU(),
                             pynn.Dense(2, 2)], loss=loss, seed=1)
    targets = y.clip(0, 1) if loss == "softmax_cross_entropy" else np.stack([y == 1, y == 2], 1).astype(np.float32)
    model.fit(X, targets, epochs=2, verbose=0)
    model.to_onnx(tmp_path / "m.onnx")
    last = onnx.load(str(tmp_path / "m.onnx")).graph.node[-1].op_type
    assert last == {"softmax_cross_entropy": "Softmax", "binary_cross_entropy": "Sigmoid", "mse": "Identity"}[loss]
    _, probabilities = _run(tmp_path / "m.onnx", X)
    np.testing.assert_allclose(probabilities, _expected(model, X), rtol=1e-5, atol=1e-7)


def test_metadata_props_carry_loss_and_class_names(tmp_path):
    model = pynn.Sequential([pynn.Dense(5, 3)], seed=0)
    model.save(tmp_path / "m.safetensors", metadata={"classes": '["a", "b", "c"]'})
    pynn.load(tmp_path / "m.safetensors").to_onnx(tmp_path / "m.onnx")
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert props == {"pynn_loss": "softmax_cross_entropy", "pynn_dtype": "float32", "pynn.classes": '["a", "b", "c"]'}


def test_batch_dimension_is_dynamic(tmp_path):
    X, _ = _data(n=9)
    model = pynn.Sequential([pynn.Dense(5, 4), pynn.ReLU(), pynn.Dense(4, 3)], seed=0)
    model.to_onnx(tmp_path / "m.onnx")
    dim = onnx.load(str(tmp_path / "m.onnx")).graph.input[0].type.tensor_type.shape.dim
    assert dim[0].dim_param == "batch" and dim[1].dim_value == 5
    for rows in (1, 9):
        np.testing.assert_allclose(_run(tmp_path / "m.onnx", X[:rows])[1], model.predict_proba(X[:rows]), rtol=1e-5,
                                   atol=1e-7)


def test_float64_model_exports_double_tensors(tmp_path):
    """onnxruntime lacks double kernels for some operators (Erf, PRelu); the ones it has run."""
    X, y = _data()
    model = pynn.Sequential([pynn.Dense(5, 6), pynn.Tanh(), pynn.Dense(6, 6), pynn.ReLU(), pynn.Dense(6, 3)],
                            dtype="float64", seed=2)
    model.to_onnx(tmp_path / "m.onnx")
    assert onnx.load(str(tmp_path / "m.onnx")).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    _, probabilities = _run(tmp_path / "m.onnx", X.astype(np.float64))
    np.testing.assert_allclose(probabilities, model.predict_proba(X), rtol=1e-12)


def test_bad_export_arguments(tmp_path):
    model = pynn.Sequential([pynn.Dense(2, 2)], seed=0)
    with pytest.raises(ValueError, match="opset"):
        model.to_onnx(tmp_path / "m.onnx", opset=11)
    with pytest.raises(TypeError, match="opset"):
        model.to_onnx(tmp_path / "m.onnx", opset="17")
    custom = pynn.Sequential([pynn.Dense(2, 1)], loss=lambda out, t: ((out - t) * (out - t)).mean())
    with pytest.raises(ValueError, match="custom loss"):
        custom.to_onnx(tmp_path / "c.onnx")
    assert not any(tmp_path.iterdir())


def test_missing_onnx_package_is_a_clear_import_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    with pytest.raises(ImportError, match="pip install onnx"):
        pynn.Sequential([pynn.Dense(2, 2)]).to_onnx(tmp_path / "m.onnx")
