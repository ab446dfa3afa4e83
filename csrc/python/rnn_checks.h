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

}  // namespace dlk::py_checks
