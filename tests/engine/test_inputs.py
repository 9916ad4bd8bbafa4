from pathlib import Path

import numpy as np
import pytest

from workbench.engine.graph import TensorInfo
from workbench.engine.inputs import iter_feeds, load_tensor, parse_input_list
from workbench.errors import InputListError

INFO = TensorInfo("image", (1, 2, 3), "float32")


def write_raw(path: Path, arr: np.ndarray) -> Path:
    path.write_bytes(arr.astype("<f4").tobytes())
    return path


def test_plain_paths_relative_to_list(tmp_path):
    a = np.arange(6, dtype=np.float32).reshape(INFO.shape)
    write_raw(tmp_path / "a.raw", a)
    (tmp_path / "list.txt").write_text("a.raw\n\n")
    il = parse_input_list(tmp_path / "list.txt", ["image"])
    assert len(il) == 1 and il.output_names is None
    np.testing.assert_array_equal(load_tensor(il.lines[0]["image"], INFO), a)


def test_named_inputs_and_output_header(tmp_path):
    (tmp_path / "list.txt").write_text("#out1 out2\na:=x.raw b:=y.npy\nb:=z.npy a:=w.raw\n")
    il = parse_input_list(tmp_path / "list.txt", ["a", "b"])
    assert il.output_names == ("out1", "out2")
    assert il.lines[1] == {"a": tmp_path / "w.raw", "b": tmp_path / "z.npy"}


@pytest.mark.parametrize(
    "text, names, message",
    [
        ("", ["x"], "names no inputs"),
        ("a.raw b.raw\n", ["x"], "name:=path"),
        ("a.raw\n", ["x", "y"], "name:=path"),
        ("q:=a.raw\n", ["x"], "'q' is not a model input"),
        ("x:=a.raw x:=b.raw\n", ["x"], "given twice"),
        ("x:=a.raw\n", ["x", "y"], "no file for input(s) y"),
        ("x:=\n", ["x"], "expected name:=path"),
    ],
)
def test_malformed_lists(tmp_path, text, names, message):
    p = tmp_path / "list.txt"
    p.write_text(text)
    with pytest.raises(InputListError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_input_list(p, names)


def test_missing_list(tmp_path):
    with pytest.raises(InputListError, match="does not exist"):
        parse_input_list(tmp_path / "nope.txt", ["x"])


def test_raw_wrong_size_names_expected_shape(tmp_path):
    p = write_raw(tmp_path / "a.raw", np.zeros(5, np.float32))
    with pytest.raises(InputListError, match=r"a.raw: 20 bytes.*\[1, 2, 3\] = 24 bytes"):
        load_tensor(p, INFO)


def test_missing_tensor_file(tmp_path):
    with pytest.raises(InputListError, match="does not exist"):
        load_tensor(tmp_path / "gone.raw", INFO)


def test_nan_is_refused(tmp_path):
    a = np.zeros(INFO.shape, np.float32)
    a[0, 1, 2] = np.nan
    with pytest.raises(InputListError, match="1 NaN or Inf"):
        load_tensor(write_raw(tmp_path / "a.raw", a), INFO)


def test_npy_shapes_and_dtypes(tmp_path):
    good = np.ones(INFO.shape, np.float64)
    np.save(tmp_path / "g.npy", good)
    out = load_tensor(tmp_path / "g.npy", INFO)
    assert out.dtype == np.float32 and out.shape == INFO.shape
    np.save(tmp_path / "flat.npy", np.ones((2, 3), np.float32))  # missing batch dim is fine
    assert load_tensor(tmp_path / "flat.npy", INFO).shape == INFO.shape
    np.save(tmp_path / "bad.npy", np.ones((3, 3), np.float32))
    with pytest.raises(InputListError, match=r"shape \[3, 3\], expected float32"):
        load_tensor(tmp_path / "bad.npy", INFO)
    np.save(tmp_path / "int.npy", np.ones(INFO.shape, np.int32))
    with pytest.raises(InputListError, match="dtype int32"):
        load_tensor(tmp_path / "int.npy", INFO)


def test_npy_pickle_is_never_loaded(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputListError, match="not a plain .npy"):
        load_tensor(tmp_path / "obj.npy", INFO)


def test_corrupt_npy(tmp_path):
    (tmp_path / "c.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(InputListError, match="c.npy"):
        load_tensor(tmp_path / "c.npy", INFO)


def test_batches_group_lines_and_pad_the_last(tmp_path):
    lines = []
    for i in range(5):
        write_raw(tmp_path / f"{i}.raw", np.full(INFO.shape, i, np.float32))
        lines.append(f"{i}.raw")
    (tmp_path / "list.txt").write_text("\n".join(lines))
    il = parse_input_list(tmp_path / "list.txt", ["image"])
    batches = list(iter_feeds(il, [INFO], batch=2))
    assert [idx for idx, _ in batches] == [[0, 1], [2, 3], [4]]
    last = batches[-1][1]["image"]
    assert last.shape == (2, 2, 3) and (last == 4).all()
