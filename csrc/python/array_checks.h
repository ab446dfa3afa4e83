// Validation of numpy arrays at the binding boundary, shared by every kernel family's bindings.
// Each check raises ValueError (std::invalid_argument) naming the argument, what was expected
// and what came. Kernels behind the boundary then trust shapes and pointers.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/check.h"

namespace dlk::py_checks {

namespace py = pybind11;

inline std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

inline std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

// The floating dtype of a kernel call: "float32" or "float64", else ValueError.
inline bool is_float64(const py::array& a, const char* name) {
  if (a.dtype().is(py::dtype::of<float>())) return false;
  if (a.dtype().is(py::dtype::of<double>())) return true;
  fail(name, ": expected dtype float32 or float64, got ", dtype_name(a));
}

template <typename T>
void require_dtype(const py::array& a, const char* name) {
  DLK_CHECK(a.dtype().is(py::dtype::of<T>()), name, ": expected dtype ",
            py::str(py::dtype::of<T>()).cast<std::string>(), ", got ", dtype_name(a));
}

inline void require_ndim(const py::array& a, int ndim, const char* name) {
  DLK_CHECK(a.ndim() == ndim, name, ": expected a ", ndim, "-D array, got shape ",
            shape_str(shape_of(a)));
}

// -1 in `expected` matches any size.
inline void require_shape(const py::array& a, const std::vector<int64_t>& expected,
                          const char* name) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(expected.size());
  for (size_t i = 0; ok && i < expected.size(); ++i)
    ok = expected[i] < 0 || expected[i] == a.shape(i);
  DLK_CHECK(ok, name, ": expected shape ", shape_str(expected), ", got ", shape_str(shape_of(a)));
}

// stride / dilation / kernel / input size: a pair (h, w) of values >= min_value. `family` names
// the kernel in the message ("conv2d", "pool2d").
inline void require_pair(const std::vector<int64_t>& v, const char* family, const char* name,
                         int64_t min_value) {
  DLK_CHECK(v.size() == 2, family, ": ", name, ": expected 2 values (h, w), got ", v.size());
  DLK_CHECK(v[0] >= min_value && v[1] >= min_value, family, ": ", name,
            ": expected values >= ", min_value, ", got ", shape_str(v));
}

// A new array of `shape` with elements of `itemsize` bytes must have a size that fits (2^62
// bytes at most) before it is allocated: a product that wraps around would give a bogus array.
inline void require_allocatable(const std::vector<int64_t>& shape, int64_t itemsize,
                                const char* name) {
  __int128 bytes = itemsize;
  for (int64_t d : shape) {
    DLK_CHECK(d >= 0, name, ": expected sizes >= 0, got shape ", shape_str(shape));
    bytes = bytes * d;
    if (bytes == 0) return;
    DLK_CHECK(bytes <= (__int128{1} << 62), name, ": the array of shape ", shape_str(shape),
              " would need more than 2^62 bytes");
  }
}

inline void require_c_contiguous(const py::array& a, const char* name) {
  DLK_CHECK(a.flags() & py::array::c_style, name,
            ": expected a C-contiguous array (use numpy.ascontiguousarray), got strides ",
            shape_str(std::vector<int64_t>(a.strides(), a.strides() + a.ndim())));
}

// Make the input `a` of dtype T C-contiguous in place: `a` itself when it already is, else a
// contiguous copy (py::array_t<T, c_style | forcecast>). The bindings take views of any strides
// this way, so the Python backend passes arrays straight through. The dtype must already be T:
// float64 where float32 is expected stays a ValueError, never a silent cast.
template <typename T>
void make_c_contiguous(py::array& a, const char* name) {
  require_dtype<T>(a, name);
  if (!(a.flags() & py::array::c_style))
    a = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(a);
}

// Same for an optional input (None stays None).
template <typename T>
void make_c_contiguous(py::object& o, const char* name) {
  if (o.is_none()) return;
  DLK_CHECK(py::isinstance<py::array>(o), name, ": expected a numpy array or None, got ",
            py::str(o.get_type()).cast<std::string>());
  py::array a = o.cast<py::array>();
  make_c_contiguous<T>(a, name);
  o = a;
}

// An index input (class ids, argmax positions) as C-contiguous int64 in place: any integer
// dtype is widened (py::array_t<int64_t, c_style | forcecast>); a float array is a ValueError.
inline void make_index_array(py::array& a, const char* name) {
  const char kind = a.dtype().kind();
  DLK_CHECK(kind == 'i' || kind == 'u', name, ": expected an integer array, got dtype ",
            dtype_name(a));
  if (!a.dtype().is(py::dtype::of<int64_t>()) || !(a.flags() & py::array::c_style))
    a = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
}

inline void require_writeable(const py::array& a, const char* name) {
  DLK_CHECK(a.writeable(), name, ": expected a writeable array, got a read-only one");
}

// True when the byte ranges spanned by the two arrays overlap.
inline bool overlaps(const py::array& a, const py::array& b) {
  auto span = [](const py::array& x, const char*& lo, const char*& hi) {
    lo = hi = static_cast<const char*>(x.data());
    if (x.size() == 0) return;
    for (py::ssize_t d = 0; d < x.ndim(); ++d) {
      const py::ssize_t ext = (x.shape(d) - 1) * x.strides(d);
      (ext < 0 ? lo : hi) += ext;
    }
    hi += x.itemsize();
  };
  const char *alo, *ahi, *blo, *bhi;
  span(a, alo, ahi);
  span(b, blo, bhi);
  return a.size() > 0 && b.size() > 0 && alo < bhi && blo < ahi;
}

inline void require_no_overlap(const py::array& out, const py::array& in, const char* out_name,
                               const char* in_name) {
  DLK_CHECK(!overlaps(out, in), out_name, " must not share memory with ", in_name,
            ": the kernel would read values it has already overwritten");
}

}  // namespace dlk::py_checks
