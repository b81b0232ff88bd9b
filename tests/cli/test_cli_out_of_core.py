"""`pynn train` on data larger than memory: .npy features memory-mapped, a CSV of more
than data.chunk_rows rows read chunk by chunk through Sequential.fit's chunks."""
import csv

import numpy as np
import pytest

import pynn
from pynn import cli
from pynn.config import ConfigError, parse_config, parse_config_text
from pynn.data_sources import CsvChunks, read_csv
from pynn.training import data_sources

LAYERS = '[model]\nlayers = [{type = "Dense", units = 8}, {type = "ReLU"}, {type = "Dense", units = 3}]\n'


def _csv(path, n=180, seed=0):
    rng = np.random.default_rng(seed)
    names = ["a", "b", "c"]
    lines = ["f0,f1,f2,f3,kind"]
    for i in range(n):
        x = rng.normal(size=4) * 0.6 + i % 3
        lines.append(",".join(f"{v:.4f}" for v in x) + f",{names[i % 3]}")
    path.write_text("\n".join(lines) + "\n")


def _config(tmp_path, data, train="epochs = 2\nbatch_size = 16\nvalidation_split = 0.0\n"):
    path = tmp_path / "train.toml"
    path.write_text(f'seed = 5\noutput = "{tmp_path / "m.safetensors"}"\n[data]\n{data}\n{LAYERS}[train]\n{train}')
    return str(path)


@pytest.mark.parametrize("chunk_rows", [1, 7, 180, 1000])
def test_csv_chunks_concatenate_to_the_whole_file(tmp_path, chunk_rows):
    _csv(tmp_path / "d.csv")
    X, labels, names = read_csv(str(tmp_path / "d.csv"), label="kind")
    chunks = CsvChunks(str(tmp_path / "d.csv"), label="kind", chunk_rows=chunk_rows)
    parts = list(chunks())
    assert [len(p[0]) for p in parts[:-1]] == [chunk_rows] * (len(parts) - 1)
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), X)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), labels)
    np.testing.assert_array_equal(chunks.labels, labels)
    assert (chunks.n_rows, chunks.names) == (180, names)
    assert len(list(chunks())) == len(parts)  # a fresh pass per call


@pytest.mark.parametrize("labels", [["0", "2.0", "1"] * 10, ["0", "1", "2"] * 9 + ["x", "1", "0"]])
def test_csv_chunk_labels_are_numbers_only_when_all_are(tmp_path, labels):
    (tmp_path / "d.csv").write_text("a,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels)))
    whole = read_csv(str(tmp_path / "d.csv"), label="label")[1]
    chunked = CsvChunks(str(tmp_path / "d.csv"), label="label", chunk_rows=4).labels
    assert chunked.dtype == whole.dtype and (chunked.dtype.kind == "f") == (labels[-3] != "x")
    np.testing.assert_array_equal(chunked, whole)


def test_train_reads_a_large_csv_in_chunks_as_fit_on_those_chunks(tmp_path, capsys):
    _csv(tmp_path / "d.csv")
    config = _config(tmp_path, 'path = "d.csv"\nlabel = "kind"\nchunk_rows = 50')
    assert cli.main(["train", config]) == 0
    assert "180 rows, read 50 at a time" in capsys.readouterr().out
    trained = pynn.load(str(tmp_path / "m.safetensors"))
    X, labels, _ = read_csv(str(tmp_path / "d.csv"), label="kind")
    y = np.searchsorted(["a", "b", "c"], labels)
    cfg = parse_config(config)
    reference = cfg.build_model(4)
    chunks = [(X[a:a + 50], y[a:a + 50]) for a in range(0, 180, 50)]
    reference.fit(lambda: iter(chunks), epochs=2, batch_size=16, optimizer=cfg.build_optimizer(), verbose=0)
    for mine, theirs in zip(trained.parameters(), reference.parameters()):
        np.testing.assert_array_equal(mine, theirs)


def test_a_csv_that_fits_in_one_chunk_is_read_whole(tmp_path):
    _csv(tmp_path / "d.csv")
    cfg = parse_config(_config(tmp_path, 'path = "d.csv"\nlabel = "kind"\nchunk_rows = 180'))
    X, y, classes, _ = cfg.load_data()
    np.testing.assert_array_equal(X, read_csv(str(tmp_path / "d.csv"), label="kind")[0])
    assert classes.tolist() == ["a", "b", "c"]


class _CountingCsv:
    """Stands in for the csv module in pynn.training.data_sources: counts the rows its
    readers yield."""
    Error = csv.Error

    def __init__(self):
        self.rows = 0

    def reader(self, *args, **kwargs):
        for row in csv.reader(*args, **kwargs):
            self.rows += 1
            yield row


@pytest.mark.parametrize("chunk_rows", [180, 50])
def test_loading_a_csv_reads_it_once(tmp_path, monkeypatch, chunk_rows):
    """load_data reads the file's 181 lines once (plus the header line, read first to find
    the columns): a file of one chunk is parsed by that pass (it used to be read a second
    time by read_csv); a larger one is only scanned for its labels there, each epoch then
    reading it chunk by chunk."""
    _csv(tmp_path / "d.csv")
    counting = _CountingCsv()
    monkeypatch.setattr(data_sources, "csv", counting)
    cfg = parse_config(_config(tmp_path, f'path = "d.csv"\nlabel = "kind"\nchunk_rows = {chunk_rows}'))
    X, y, classes, _ = cfg.load_data()
    assert counting.rows == 1 + 181
    assert isinstance(X, np.ndarray) == (chunk_rows >= 180)
    assert classes.tolist() == ["a", "b", "c"] and len(y) == 180


def test_a_csv_read_in_chunks_holds_no_rows_out(tmp_path, capsys):
    _csv(tmp_path / "d.csv")
    config = _config(tmp_path, 'path = "d.csv"\nlabel = "kind"\nchunk_rows = 50', train="validation_split = 0.2\n")
    assert cli.main(["train", config]) == 2
    err = capsys.readouterr().err
    assert "train.validation_split: d.csv has 180 rows, more than data.chunk_rows = 50" in err
    assert "set train.validation_split = 0" in err
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize("data, message", [
    ('path = "d.csv"\nchunk_rows = 0', r"data.chunk_rows: must be an integer in \[1, "),
    ('path = "d.csv"\nchunk_rows = "many"', "data.chunk_rows: must be an integer, got a string"),
    ('x = "X.npy"\ny = "y.npy"\nchunk_rows = 10', "data.chunk_rows: does not apply to source 'npy'"),
])
def test_bad_chunk_rows(tmp_path, data, message):
    _csv(tmp_path / "d.csv")
    np.save(tmp_path / "X.npy", np.zeros((4, 2)))
    np.save(tmp_path / "y.npy", np.zeros(4))
    with pytest.raises(ConfigError, match=message):
        parse_config_text(f"[data]\n{data}\n", base_dir=str(tmp_path))


def test_train_memory_maps_npy_features_and_reads_them_in_place(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    config = _config(tmp_path, 'x = "X.npy"\ny = "y.npy"')
    cfg = parse_config(config)
    loaded, _, _, _ = cfg.load_data()
    assert isinstance(loaded, np.memmap) and loaded.mode == "r"
    assert cli.main(["train", config]) == 0
    reference = cfg.build_model(4)
    reference.fit(X, y, epochs=2, batch_size=16, optimizer=cfg.build_optimizer(), verbose=0)
    for mine, theirs in zip(pynn.load(str(tmp_path / "m.safetensors")).parameters(), reference.parameters()):
        np.testing.assert_array_equal(mine, theirs)
