"""Rows scattered into a table (the embedding backward): dl_kernels._C.index_add_rows and the CPU
backend's index_add, pinned bit for bit to numpy's np.add.at (same additions, same order)."""

import numpy as np
import pytest
from dl_kernels import _C
from dl_kernels.backend import cpu as backend


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows,index_shape,trailing", [
    (1, (1,), (1,)), (65, (64, 32), (64,)), (7, (40,), (2, 3)), (5000, (3, 5), (7,)),
    (10, (17,), ()), (3, (0,), (4,)), (4, (9,), (0,)),
])
def test_index_add_equals_numpy_add_at_bitwise(rng, rows, index_shape, trailing, dtype):
    index = rng.integers(-rows, rows, size=index_shape)
    values = rng.standard_normal(index_shape + trailing).astype(dtype)
    expected = np.zeros((rows,) + trailing, dtype)
    np.add.at(expected, index, values)
    got = backend.index_add((rows,) + trailing, index, values)
    assert got.dtype == dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_repeated_rows_accumulate_in_order():
    values = np.array([[1e8], [1.0], [-1e8], [1.0]], np.float32)
    out = _C.index_add_rows(2, np.array([0, 0, 0, 1]), values)
    # ((0 + 1e8) + 1) - 1e8 = 0 in float32 (the 1 is lost), as np.add.at gives
    np.testing.assert_array_equal(out, [[0.0], [1.0]])


def test_an_index_out_of_range_is_an_index_error_naming_it():
    with pytest.raises(IndexError, match="index 5 is out of bounds for axis 0 with size 5"):
        _C.index_add_rows(5, np.array([0, 5]), np.ones((2, 3), np.float32))
    with pytest.raises(IndexError, match="index -6 is out of bounds"):
        _C.index_add_rows(5, np.array([-6]), np.ones((1, 3), np.float32))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"expected shape \(2, width\) for 2 indices"):
        _C.index_add_rows(5, np.array([0, 1]), np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match="expected an integer array"):
        _C.index_add_rows(5, np.array([0.5]), np.ones((1, 4), np.float32))
    with pytest.raises(ValueError, match="float32 or float64"):
        _C.index_add_rows(5, np.array([0]), np.ones((1, 4), np.int32))
