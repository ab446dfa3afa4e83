"""dl_kernels.save / load (as torch.save / torch.load), load_model for a CLI-trained model,
and the package face (attributes, __version__, py.typed)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels.__main__ import main
from dl_kernels.data import load_dataset
from dl_kernels.nn.serialization import CheckpointError
from dl_kernels.train import TrainError


def test_save_and_load_round_trip_tensors_arrays_and_nested_containers(tmp_path):
    obj = {
        "w": dlk.randn(3, 4, dtype=dlk.float64),
        "ids": dlk.tensor([1, 2, 3]),
        "mask": dlk.tensor([True, False]),
        "raw": np.arange(4, dtype=np.float32),
        "nested": [1, 2.5, ("a", None), {"inf": float("inf")}],
        "empty": dlk.zeros(0, 5),
    }
    dlk.save(obj, tmp_path / "obj.dlk")
    back = dlk.load(tmp_path / "obj.dlk")
    for key in ("w", "ids", "mask", "empty"):
        assert isinstance(back[key], dlk.Tensor) and back[key].dtype == obj[key].dtype
        np.testing.assert_array_equal(back[key].numpy(), obj[key].numpy())
    assert isinstance(back["raw"], np.ndarray)
    assert back["nested"] == [1, 2.5, ("a", None), {"inf": float("inf")}]
    as_numpy = dlk.load(tmp_path / "obj.dlk", numpy=True)
    assert isinstance(as_numpy["w"], np.ndarray)


def test_a_state_dict_reloads_into_a_fresh_model(tmp_path):
    dlk.manual_seed(0)
    model = dlk.nn.Sequential(dlk.nn.Linear(4, 3), dlk.nn.ReLU(), dlk.nn.Linear(3, 2))
    dlk.save(model.state_dict(), tmp_path / "m.dlk")
    fresh = dlk.nn.Sequential(dlk.nn.Linear(4, 3), dlk.nn.ReLU(), dlk.nn.Linear(3, 2))
    fresh.load_state_dict(dlk.load(tmp_path / "m.dlk"))
    x = dlk.randn(5, 4)
    np.testing.assert_array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())
    with pytest.raises(TypeError, match="save model.state_dict"):
        dlk.save(model, tmp_path / "module.dlk")
    model.save(tmp_path / "module.ckpt")
    with pytest.raises(CheckpointError, match=r"Module.save \(Sequential\).*model.load\(path\)"):
        dlk.load(tmp_path / "module.ckpt")


def test_a_corrupted_file_is_refused_and_a_failed_save_keeps_the_old_file(tmp_path):
    path = tmp_path / "t.dlk"
    dlk.save({"a": dlk.ones(100)}, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="truncated or corrupted|fails"):
        dlk.load(path)
    dlk.save([1], path)
    with pytest.raises(TypeError, match="cannot save an object of type object"):
        dlk.save([object()], path)
    assert dlk.load(path) == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["t.dlk"]  # no temporary file left


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_saved_files_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        dlk.save([1], tmp_path / "a.dlk")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.dlk").st_mode) == 0o640


def test_a_cli_trained_model_reloads_in_one_call_with_its_standardiser(tmp_path):
    out = tmp_path / "run"
    threads = dlk.get_num_threads()
    try:
        assert main(["train", "mlp", "--limit", "300", "--epochs", "3", "--out", str(out),
                     "--no-progress", "--no-plot", "--standardize", "feature",
                     "--threads", "1"]) == 0
    finally:
        dlk.set_num_threads(threads)
    model = dlk.load_model(out / "model.ckpt")
    assert not model.training and model.standardizer is not None
    assert model.standardizer.per == "feature"
    test = load_dataset("digits", limit=300).test  # the run's own split (same seed and limit)
    pred = model.predict(test.x)
    acc = float((pred == test.y).mean())
    assert acc == pytest.approx(model.checkpoint["test"]["acc"], abs=1e-6)
    # Without the standardiser the same network does much worse: it really was restored.
    with dlk.no_grad():
        raw = model.net(dlk.tensor(test.x)).numpy().argmax(1)
    assert (raw == test.y).mean() < acc
    # The wrong call for each kind of file says which one to use.
    with pytest.raises(CheckpointError, match=r"dl_kernels.load_model\(path\)"):
        dlk.load(out / "model.ckpt")
    dlk.save({"x": dlk.ones(1)}, tmp_path / "plain.dlk")
    with pytest.raises(TrainError, match=r"dl_kernels.load\(path\)"):
        dlk.load_model(tmp_path / "plain.dlk")


def test_the_package_face():
    import dl_kernels.data
    import dl_kernels.models

    assert dlk.data is dl_kernels.data and dlk.models is dl_kernels.models
    assert isinstance(dlk.__version__, str) and dlk.__version__.count(".") >= 2
    try:
        dist = dlk.distributed  # lazy: imported on first use, where it exists
    except (AttributeError, ImportError) as exc:
        assert "distributed" in str(exc) or "mpi4py" in str(exc)
    else:
        assert dist.__name__ == "dl_kernels.distributed"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dlk.nope  # noqa: B018
    package = Path(dlk.__file__).parent
    assert (package / "py.typed").is_file()
