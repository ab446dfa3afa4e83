// Argument checks shared by the LSTM and GRU bindings.
#pragma once

#include "python/array_checks.h"

namespace dlk::py_checks {

// A float input of dtype T, C-contiguous, with the expected shape (-1 matches any size).
template <typename T>
const T* in_ptr(const py::array& a, const std::vector<int64_t>& shape, const char* name) {
  require_dtype<T>(a, name);
  require_shape(a, shape, name);
  require_c_contiguous(a, name);
  return static_cast<const T*>(a.data());
}

// Same for an optional argument: nullptr for None.
template <typename T>
const T* opt_ptr(const py::object& o, const std::vector<int64_t>& shape, const char* name) {
  if (o.is_none()) return nullptr;
  DLK_CHECK(py::isinstance<py::array>(o), name, ": expected a numpy array or None, got ",
            py::str(o.get_type()).cast<std::string>());
  return in_ptr<T>(o.cast<py::array>(), shape, name);
}

template <typename T>
py::array_t<T> new_array(const std::vector<int64_t>& shape) {
  return py::array_t<T>(std::vector<py::ssize_t>(shape.begin(), shape.end()));
}

}  // namespace dlk::py_checks
