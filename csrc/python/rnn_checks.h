// Argument checks shared by the LSTM and GRU bindings.
#pragma once

#include "python/array_checks.h"

namespace dlk::py_checks {

// A float input of dtype T with the expected shape (-1 matches any size), made C-contiguous in
// place (a copy only when it is not): `a` must outlive the returned pointer, so callers pass
// their own by-value parameters.
template <typename T>
const T* in_ptr(py::array& a, const std::vector<int64_t>& shape, const char* name) {
  require_shape(a, shape, name);
  make_c_contiguous<T>(a, name);
  return static_cast<const T*>(a.data());
}

// Same for an optional argument: nullptr for None.
template <typename T>
const T* opt_ptr(py::object& o, const std::vector<int64_t>& shape, const char* name) {
  make_c_contiguous<T>(o, name);
  if (o.is_none()) return nullptr;
  py::array a = o.cast<py::array>();  // the same object o holds, so the data outlives `a`
  require_shape(a, shape, name);
  return static_cast<const T*>(a.data());
}

template <typename T>
py::array_t<T> new_array(const std::vector<int64_t>& shape) {
  return py::array_t<T>(std::vector<py::ssize_t>(shape.begin(), shape.end()));
}

// Packed sequences (csrc/cpu/rnn_packed.h): batch_sizes, int64 [T], each in [1, N],
// non-increasing, starting at N, summing to the rows of x [R, I]. nullptr when None (dense).
inline const int64_t* packed_batch_sizes(const py::object& o, const py::array& x, int64_t N) {
  if (o.is_none()) return nullptr;
  DLK_CHECK(py::isinstance<py::array>(o), "batch_sizes: expected an int64 numpy array or None");
  const py::array a = o.cast<py::array>();
  require_ndim(a, 1, "batch_sizes");
  require_dtype<int64_t>(a, "batch_sizes");
  require_c_contiguous(a, "batch_sizes");
  DLK_CHECK(x.ndim() == 2, "x: packed sequences are [R, I] (R = sum of batch_sizes), got shape ",
            shape_str(shape_of(x)));
  const auto* p = static_cast<const int64_t*>(a.data());
  int64_t rows = 0;
  for (int64_t t = 0; t < a.shape(0); ++t) {
    const int64_t prev = t ? p[t - 1] : N;
    DLK_CHECK(p[t] >= 1 && p[t] <= prev && (t > 0 || p[t] == N), "batch_sizes: expected ",
              "non-increasing sizes in [1, ", N, "] starting at the batch N = ", N, ", got ", p[t],
              " at step ", t);
    rows += p[t];
  }
  DLK_CHECK(rows == x.shape(0), "x: expected ", rows, " rows (the sum of batch_sizes), got ",
            shape_str(shape_of(x)));
  return p;
}

// The shape of a per-step array with F features: [T, N, F] dense, [R, F] packed.
template <typename Shape>
std::vector<int64_t> seq_dims(const Shape& s, int64_t F) {
  if (!s.batch_sizes) return {s.T, s.N, F};
  int64_t rows = 0;
  for (int64_t t = 0; t < s.T; ++t) rows += s.batch_sizes[t];
  return {rows, F};
}

}  // namespace dlk::py_checks
