"""Model files: safetensors saved and loaded by pynn (through the safetensors package) and
opened by other tools; bit-identical predictions, exact resumption of training, files of
earlier pynn versions, atomic writes, and a clear ValueError for every kind of broken file."""
import json
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pynn
from pynn.io import model_file, safetensors_file
from pynn.nn.loading import load_bytes

ALL_LAYERS = [pynn.Dense(6, 12), pynn.ReLU(), pynn.Dense(12, 12, use_bias=False), pynn.PReLU(12), pynn.Dropout(0.25),
              pynn.Dense(12, 10), pynn.Tanh(), pynn.Dense(10, 10), pynn.Sigmoid(), pynn.Dense(10, 9), pynn.LeakyReLU(0.1),
              pynn.Dense(9, 9), pynn.ELU(0.7), pynn.Dense(9, 8), pynn.GELU(), pynn.Dense(8, 8), pynn.SiLU(),
              pynn.Dense(8, 8), pynn.Softplus(), pynn.Dense(8, 7), pynn.Identity(), pynn.Dense(7, 3)]


def _data(n=120, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
    return X, y % k


def _model(dtype="float32", loss="softmax_cross_entropy", seed=3, dropout=0.2):
    layers = [pynn.Dense(6, 16), pynn.ReLU(), pynn.Dropout(dropout), pynn.Dense(16, 3)]
    return pynn.Sequential(layers, loss=loss, dtype=dtype, seed=seed)


def _same_params(a, b):
    return len(a.parameters()) == len(b.parameters()) and all(
        p.dtype == q.dtype and p.shape == q.shape and np.array_equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_roundtrip_every_layer_predicts_bit_identically(tmp_path, dtype):
    X, y = _data()
    model = pynn.Sequential([type(l)(**{k: v for k, v in l.get_config().items() if k != "class"}) for l in ALL_LAYERS],
                            loss="softmax_cross_entropy", dtype=dtype, seed=11)
    model.fit(X, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "model.safetensors"
    model.save(path)
    loaded = pynn.load(path)
    assert loaded.get_config() == model.get_config()
    assert _same_params(loaded, model)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert np.array_equal(loaded.forward(X), model.forward(X))
    assert loaded.epochs_done == 2 and type(loaded.optimizer) is type(model.optimizer)


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "mse"])
def test_roundtrip_other_losses(tmp_path, loss):
    X, y = _data()
    model = pynn.Sequential([pynn.Dense(6, 8), pynn.Tanh(), pynn.Dense(8, 2)], loss=loss, seed=5)
    targets = np.stack([y == 1, y == 2], axis=1).astype(np.float32)
    model.fit(X, targets, epochs=1, verbose=0)
    model.save(tmp_path / "m.safetensors")
    loaded = pynn.load(tmp_path / "m.safetensors")
    assert loaded.loss == loss
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_file_opens_with_the_safetensors_package(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="the safetensors package proves interoperability")
    from safetensors import safe_open

    X, y = _data()
    model = _model()
    model.fit(X, y, epochs=1, optimizer=pynn.Adam(), verbose=0)
    model.save(tmp_path / "m.safetensors")
    tensors = safetensors_numpy.load_file(str(tmp_path / "m.safetensors"))
    assert set(tensors) == {"layers.0.W", "layers.0.b", "layers.3.W", "layers.3.b", "optimizer.m", "optimizer.v"}
    for name, param in model.named_parameters():
        assert tensors[name].dtype == np.float32 and np.array_equal(tensors[name], param)
    assert np.array_equal(tensors["optimizer.m"], model._net.first_moment())
    with safe_open(str(tmp_path / "m.safetensors"), framework="numpy") as f:
        meta = f.metadata()
    assert meta["format"] == "pynn" and meta["loss"] == "softmax_cross_entropy" and meta["dtype"] == "float32"
    assert meta["pynn_version"] == pynn.__version__ and meta["seed"] == "3" and meta["epochs_done"] == "1"
    assert json.loads(meta["architecture"])[0] == {"class": "Dense", "n_in": 6, "n_out": 16, "use_bias": True,
                                                   "init": "auto"}
    assert json.loads(meta["optimizer"])["class"] == "Adam" and int(meta["optimizer_step"]) == model._net.opt_step


def test_file_written_by_the_safetensors_package_loads(tmp_path):
    """pynn reads what another safetensors writer produces (no checksum, no padding rules)."""
    safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="the safetensors package writes the file")
    model = _model()
    meta = {"format": "pynn", "format_version": "1", "architecture": json.dumps(model.get_config()["layers"]),
            "loss": "softmax_cross_entropy", "dtype": "float32", "seed": "3"}
    safetensors_numpy.save_file({k: np.array(v) for k, v in model.named_parameters()}, str(tmp_path / "x.safetensors"),
                                metadata=meta)
    loaded = pynn.load(tmp_path / "x.safetensors")
    assert _same_params(loaded, model) and loaded.optimizer is None


@pytest.mark.parametrize("make_optimizer", [lambda: pynn.Adam(lr=0.01), lambda: pynn.SGD(lr=0.05, momentum=0.9),
                                            lambda: pynn.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
                                            lambda: pynn.AdamW(lr=0.01)],
                         ids=["adam", "sgd-momentum", "sgd-nesterov-wd", "adamw"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_resume_after_load_is_bit_for_bit(tmp_path, make_optimizer, dropout):
    """fit(2 epochs) == fit(1) -> save -> load -> fit(1): same weights, same moments, same step."""
    X, y = _data()
    straight = _model(dropout=dropout)
    straight.fit(X, y, epochs=2, batch_size=16, optimizer=make_optimizer(), verbose=0)
    first = _model(dropout=dropout)
    first.fit(X, y, epochs=1, batch_size=16, optimizer=make_optimizer(), verbose=0)
    first.save(tmp_path / "half.safetensors")
    resumed = pynn.load(tmp_path / "half.safetensors")
    resumed.fit(X, y, epochs=1, batch_size=16, verbose=0)  # continues with the saved optimizer
    assert _same_params(resumed, straight)
    assert resumed._net.opt_step == straight._net.opt_step
    assert resumed._net.train_forwards == straight._net.train_forwards
    for moment in ("first_moment", "second_moment"):
        assert np.array_equal(getattr(resumed._net, moment)(), getattr(straight._net, moment)())
    assert resumed.epochs_done == 2


def test_without_optimizer_state(tmp_path):
    X, y = _data()
    model = _model()
    model.fit(X, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.safetensors", include_optimizer=False)
    tensors, meta = safetensors_file.read_safetensors(tmp_path / "m.safetensors")
    assert "optimizer" not in meta and set(tensors) == {"layers.0.W", "layers.0.b", "layers.3.W", "layers.3.b"}
    loaded = pynn.load(tmp_path / "m.safetensors")
    assert loaded.optimizer is None and np.array_equal(loaded.predict(X), model.predict(X))


def test_history_and_user_metadata_survive(tmp_path):
    X, y = _data()
    model = _model()
    model.fit(X, y, epochs=3, verbose=0, validation_data=(X, y))
    model.save(tmp_path / "m.safetensors", metadata={"classes": '["a", "b", "c"]'})
    loaded = pynn.load(tmp_path / "m.safetensors")
    assert loaded.history.history["loss"] == model.history.history["loss"]
    assert loaded.history.history["val_accuracy"] == model.history.history["val_accuracy"]
    assert loaded.metadata == {"classes": '["a", "b", "c"]'}
    loaded.save(tmp_path / "again.safetensors", metadata={"note": "fine-tuned"})
    assert pynn.load(tmp_path / "again.safetensors").metadata == {"classes": '["a", "b", "c"]', "note": "fine-tuned"}
    assert pynn.load(tmp_path / "again.safetensors").history.history["loss"] == model.history.history["loss"]


def test_bad_save_arguments(tmp_path):
    model = _model()
    with pytest.raises(TypeError, match="include_optimizer"):
        model.save(tmp_path / "m.safetensors", include_optimizer="yes")
    with pytest.raises(TypeError, match="metadata"):
        model.save(tmp_path / "m.safetensors", metadata={"k": 1})
    custom = pynn.Sequential([pynn.Dense(2, 1)], loss=lambda out, t: ((out - t) * (out - t)).mean())
    with pytest.raises(ValueError, match="custom loss"):
        custom.save(tmp_path / "c.safetensors")
    with pytest.raises(TypeError, match="Sequential"):
        pynn.io.save("not a model", tmp_path / "x.safetensors")
    assert not any(tmp_path.iterdir())


DATA = os.path.join(os.path.dirname(__file__), "data")


def test_file_from_pynn_0_1_0_loads_bit_for_bit():
    """tests/io/data/model_format1.safetensors was written by pynn 0.1.0's own writer (format
    version 1): Dense(4, 8), ReLU, Dropout(0.25), Dense(8, 3), trained 3 epochs with Adam
    and validation data. The .npz beside it holds what that model held when it saved: its
    inputs' predict_proba, its parameters and its Adam moments. Every file users already
    have must keep loading to exactly that model."""
    model = pynn.load(os.path.join(DATA, "model_format1.safetensors"))
    with np.load(os.path.join(DATA, "model_format1_expected.npz")) as expected:
        for name, param in model.named_parameters():
            assert param.dtype == np.float32 and np.array_equal(param, expected[f"param.{name}"]), name
        for which, moment in enumerate(("first_moment", "second_moment")):
            assert np.array_equal(getattr(model._net, moment)(), expected[f"optimizer.{which}"])
        proba = model.predict_proba(expected["X"])
        # The stored probabilities agree to float32 rounding: they came from the AVX-512
        # kernels and a softmax computed in float64; predict_proba computes it in float32.
        # Bit for bit everywhere: the loaded model predicts as a model given those parameters.
        np.testing.assert_allclose(proba, expected["proba"], rtol=1e-5, atol=1e-7)
        rebuilt = pynn.Sequential([pynn.Dense(4, 8), pynn.ReLU(), pynn.Dropout(0.25), pynn.Dense(8, 3)])
        for (_, dst), (_, src) in zip(rebuilt.named_parameters(), model.named_parameters()):
            dst[...] = src
        assert proba.dtype == np.float32 and np.array_equal(proba, rebuilt.predict_proba(expected["X"]))
    assert type(model.optimizer) is pynn.Adam and model.optimizer.get_config()["lr"] == 0.01
    assert model._net.opt_step == 9 and model._net.train_forwards == 9 and model.epochs_done == 3
    assert model.history.history["loss"] == [1.9249457301572335, 1.6949441756260988, 1.5184114827467703]
    assert sorted(model.history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert model.metadata == {"classes": '["a", "b", "c"]'}


# ---------------------------------------------------------------------------- atomic writes
def _good_file(tmp_path):
    path = tmp_path / "m.safetensors"
    _model(seed=1).save(path)
    return path, path.read_bytes()


def test_failed_write_keeps_the_old_file_and_removes_the_temp_file(tmp_path, monkeypatch):
    path, before = _good_file(tmp_path)

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        _model(seed=2).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_interrupt_between_write_and_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path, before = _good_file(tmp_path)
    written = []

    def interrupted(src, dst):
        written.append(os.path.getsize(src))  # the temp file is complete, next to the target
        raise KeyboardInterrupt  # even a Ctrl-C mid-save cleans up

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _model(seed=2).save(path)
    assert written == [len(before)]
    assert path.read_bytes() == before and len(list(tmp_path.iterdir())) == 1


def test_unwritable_destination_raises_oserror(tmp_path):
    (tmp_path / "plainfile").write_text("x")
    with pytest.raises(OSError):
        _model().save(tmp_path / "missing-dir" / "m.safetensors")
    with pytest.raises(OSError):
        _model().save(tmp_path / "plainfile" / "m.safetensors")  # parent is not a directory
    with pytest.raises(OSError):
        _model().save(tmp_path)  # a directory stands where the file should go
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plainfile"]


def test_process_killed_mid_save_leaves_the_old_file(tmp_path):
    """A real crash: the process dies (os._exit) after writing the temp file but before
    the rename. The old file must still load, bit for bit."""
    path, before = _good_file(tmp_path)
    script = textwrap.dedent(f"""
        import os, pynn
        os.fsync = lambda fd: os._exit(9)   # die after the data is written, before os.replace
        m = pynn.Sequential([pynn.Dense(6, 16), pynn.ReLU(), pynn.Dropout(0.2), pynn.Dense(16, 3)], seed=2)
        m.save({str(path)!r})
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == 9
    assert path.read_bytes() == before
    assert np.array_equal(pynn.load(path).parameters()[0], _model(seed=1).parameters()[0])


# ---------------------------------------------------------------------------- broken files
def _raw_file(path, header: dict, data: bytes, header_len=None):
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if header_len is None else header_len) + text + data)
    return path


def _parts(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


@pytest.mark.parametrize("cut", [0, 5, 8, 20, -1, -200])
def test_truncated_file(tmp_path, cut):
    path, raw = _good_file(tmp_path)
    path.write_bytes(raw[:cut])
    with pytest.raises(ValueError, match="truncated|beyond the file|out of bounds|not valid JSON"):
        pynn.load(path)


def test_header_length_beyond_the_file(tmp_path):
    path, _ = _good_file(tmp_path)
    header, data = _parts(path)
    _raw_file(path, header, data, header_len=10**6)
    with pytest.raises(ValueError, match="header length 1000000 goes beyond the file size"):
        pynn.load(path)


def test_bad_json_header(tmp_path):
    path, raw = _good_file(tmp_path)
    path.write_bytes(raw[:8] + b"#" + raw[9:])
    with pytest.raises(ValueError, match="not valid JSON"):
        pynn.load(path)


def test_foreign_files(tmp_path):
    foreign = tmp_path / "foreign.safetensors"
    safetensors_file.write_safetensors(foreign, {"weight": np.ones((2, 2), np.float32)}, {"framework": "pt"})
    with pytest.raises(ValueError, match="not a pynn model file"):
        pynn.load(foreign)
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is a text file and not a model at all\n")
    with pytest.raises(ValueError, match="beyond the file size"):
        pynn.load(text)
    listed = _raw_file(tmp_path / "list.safetensors", [1, 2], b"")
    with pytest.raises(ValueError, match="JSON object"):
        pynn.load(listed)


def test_deeply_nested_json_is_a_value_error():
    """[[[[...]]]] would make json recurse too deep: a ValueError, in the header or the metadata
    (the metadata by pynn.io.nesting's scan, so json never recurses near the limit)."""
    bomb = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(ValueError, match="not valid JSON"):
        load_bytes(struct.pack("<Q", len(bomb)) + bomb)
    meta = {"format": "pynn", "format_version": "1", "architecture": "[" * 200_000 + "]" * 200_000}
    text = json.dumps({"__metadata__": meta}).encode()
    with pytest.raises(ValueError, match="'architecture' is not valid JSON"):
        load_bytes(struct.pack("<Q", len(text)) + text)


def test_missing_tensor(tmp_path):
    path, _ = _good_file(tmp_path)
    tensors, meta = safetensors_file.read_safetensors(path)
    del tensors["layers.3.b"]
    safetensors_file.write_safetensors(path, tensors, meta)
    with pytest.raises(ValueError, match="tensor 'layers.3.b' is missing"):
        pynn.load(path)


def test_unexpected_tensor(tmp_path):
    path, _ = _good_file(tmp_path)
    header, data = _parts(path)
    header["extra"] = {"dtype": "F32", "shape": [1], "data_offsets": [len(data), len(data) + 4]}
    _raw_file(path, header, data + bytes(4))
    with pytest.raises(ValueError, match=r"unexpected tensors \['extra'\]"):
        pynn.load(path)


def test_wrong_shape_and_dtype_against_the_architecture(tmp_path):
    model = _model()
    path = tmp_path / "m.safetensors"
    model.save(path)
    tensors, meta = safetensors_file.read_safetensors(path)
    bad_shape = dict(tensors, **{"layers.0.W": tensors["layers.0.W"].reshape(6, 16)})
    safetensors_file.write_safetensors(path, bad_shape, meta)
    with pytest.raises(ValueError, match=r"'layers.0.W' has shape \[6, 16\], the architecture needs \[16, 6\]"):
        pynn.load(path)
    bad_dtype = dict(tensors, **{"layers.0.b": tensors["layers.0.b"].astype(np.float64)})
    safetensors_file.write_safetensors(path, bad_dtype, meta)
    with pytest.raises(ValueError, match="'layers.0.b' has dtype F64, the model's dtype float32 needs F32"):
        pynn.load(path)
    wrong_arch = dict(meta, architecture=json.dumps([{"class": "Dense", "n_in": 6, "n_out": 4}]))
    safetensors_file.write_safetensors(path, tensors, wrong_arch)
    with pytest.raises(ValueError, match="'layers.0.W' has shape"):
        pynn.load(path)


@pytest.mark.parametrize("offsets,match", [([0, 10**9], "out of bounds"), ([-4, 60], "tensor entries"),
                                           ([4, 2], "out of bounds"), ("x", "tensor entries"),
                                           ([0, 8], "do not match its shape and dtype")])
def test_bad_offsets(tmp_path, offsets, match):
    path, _ = _good_file(tmp_path)
    header, data = _parts(path)
    header["layers.0.W"]["data_offsets"] = offsets
    _raw_file(path, header, data)
    with pytest.raises(ValueError, match=match):
        pynn.load(path)


def test_overlapping_tensors(tmp_path):
    path, _ = _good_file(tmp_path)
    header, data = _parts(path)
    header["layers.0.b"]["data_offsets"] = [4, 4 + 16 * 4]  # lies inside layers.0.W
    _raw_file(path, header, data)
    with pytest.raises(ValueError, match="overlap"):
        pynn.load(path)


def test_dtype_pynn_never_writes_is_a_value_error(tmp_path):
    """A bfloat16 tensor is valid safetensors (the package's numpy loader has no dtype
    for it): pynn names the tensor and the dtype it needs."""
    path, _ = _good_file(tmp_path)
    header, data = _parts(path)
    header["layers.0.W"]["dtype"] = "BF16"
    header["layers.0.W"]["shape"] = [16, 12]  # the same 384 bytes
    _raw_file(path, header, data)
    with pytest.raises(ValueError, match="'layers.0.W' has dtype BF16, the model's dtype float32 needs F32"):
        pynn.load(path)


def test_bytes_after_the_tensors(tmp_path):
    path, raw = _good_file(tmp_path)
    path.write_bytes(raw + bytes(8))
    with pytest.raises(ValueError, match=r"m\.safetensors: the tensors do not cover exactly .*bytes appended"):
        pynn.load(path)


def test_write_safetensors_takes_any_memory_layout(tmp_path):
    """Transposed and strided arrays are written as their values, not as their memory."""
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    tensors = {"t": base.T, "s": base[:, ::2], "f": base.astype(np.float32)[1:3, ::-1]}
    safetensors_file.write_safetensors(tmp_path / "x.safetensors", tensors, {"k": "v"})
    read, meta = safetensors_file.read_safetensors(tmp_path / "x.safetensors")
    assert meta == {"k": "v"} and set(read) == set(tensors)
    for key, arr in tensors.items():
        assert read[key].dtype == arr.dtype and np.array_equal(read[key], arr), key


def test_every_single_bit_flip_is_a_value_error(tmp_path):
    """No flipped bit anywhere in a file (length, header, metadata, data) loads silently
    or raises anything but ValueError: structure checks or the checksum catch it."""
    model = pynn.Sequential([pynn.Dense(2, 2), pynn.Dropout(0.5), pynn.Dense(2, 2)], seed=0)
    model.fit(np.eye(2), [0, 1], epochs=1, verbose=0, optimizer=pynn.SGD(momentum=0.5))
    path = tmp_path / "tiny.safetensors"
    model.save(path)
    raw = path.read_bytes()
    header_end = 8 + struct.unpack("<Q", raw[:8])[0]
    padding = {i for i in range(8, header_end) if raw[i:i + 1] == b" "}  # JSON whitespace stays JSON
    assert len(raw) < 2000
    for i in range(len(raw)):
        for bit in range(8):
            corrupted = bytearray(raw)
            corrupted[i] ^= 1 << bit
            if i in padding and chr(corrupted[i]) in "\t\n\r":
                continue  # one kind of JSON whitespace for another: the same file
            with pytest.raises(ValueError):
                load_bytes(bytes(corrupted), f"byte {i} bit {bit}")
    assert _same_params(load_bytes(raw), model)


def test_flipped_data_byte_fails_the_checksum(tmp_path):
    path, raw = _good_file(tmp_path)
    corrupted = bytearray(raw)
    corrupted[-7] ^= 0x40
    path.write_bytes(bytes(corrupted))
    with pytest.raises(ValueError, match="SHA-256"):
        pynn.load(path)


@pytest.mark.parametrize("key,value,match", [
    ("format_version", "99", "newer than this pynn reads"),
    ("loss", "hinge", "metadata 'loss'"),
    ("dtype", "int8", "metadata 'dtype'"),
    ("seed", "minus one", "'seed' must be an integer"),
    ("architecture", "[{", "'architecture' is not valid JSON"),
    ("architecture", '[{"class": "Conv2d"}]', "unknown layer class"),
    ("architecture", '[{"class": "ReLU"}]', "must start with a Dense layer"),
    ("optimizer", '{"class": "Lion"}', "bad optimizer config"),
    ("optimizer_step", None, "'optimizer_step' is missing"),
])
def test_bad_metadata(tmp_path, key, value, match):
    path, _ = _good_file(tmp_path)
    tensors, meta = safetensors_file.read_safetensors(path)
    if key == "optimizer_step":
        model = _model()
        model.fit(*_data(), epochs=1, verbose=0)
        model.save(path)
        tensors, meta = safetensors_file.read_safetensors(path)
        del meta[key]
    else:
        meta[key] = value
    safetensors_file.write_safetensors(path, tensors, meta)
    with pytest.raises(ValueError, match=match):
        pynn.load(path)


def test_non_finite_tensor(tmp_path):
    path, _ = _good_file(tmp_path)
    tensors, meta = safetensors_file.read_safetensors(path)
    tensors = {k: v.copy() for k, v in tensors.items()}
    tensors["layers.0.b"][3] = np.nan
    in_model_order = [tensors[k] for k in ("layers.0.W", "layers.0.b", "layers.3.W", "layers.3.b")]
    meta["sha256"] = model_file.checksum(meta, in_model_order)  # a well-formed file that holds a NaN
    safetensors_file.write_safetensors(path, tensors, meta)
    with pytest.raises(ValueError, match="NaN or inf"):
        pynn.load(path)


def test_deep_json_in_any_entry_is_refused_before_parsing(tmp_path):
    """Every JSON entry pynn.load reads goes through the bounded reader: architecture,
    optimizer and history alike name the entry and the depth (in a file whose checksum
    is right, so the entry's own check is what refuses it)."""
    model = _model()
    model.fit(np.ones((8, 6)), np.arange(8) % 3, epochs=1, verbose=0)
    path = tmp_path / "m.safetensors"
    model.save(path)
    order = [name for name, _ in model.named_parameters()] + list(model.optimizer.buffers)
    for key in ("architecture", "optimizer", "history"):
        tensors, meta = safetensors_file.read_safetensors(path)
        assert key in meta
        meta[key] = "[" * 5000 + "]" * 5000
        meta["sha256"] = model_file.checksum(meta, [tensors[name] for name in order])
        safetensors_file.write_safetensors(tmp_path / "deep.safetensors", tensors, meta)
        with pytest.raises(ValueError, match=f"metadata '{key}' is not valid JSON \\(nested 5000 levels deep"):
            pynn.load(tmp_path / "deep.safetensors")
