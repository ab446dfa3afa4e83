// The `_cuda` module is assembled from one bind_* function per family.
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "common/check.h"
#include "cuda/runtime.h"

namespace dlk::cuda {

namespace py = pybind11;

void bind_runtime(py::module_& m);
void bind_kernels(py::module_& m);

// RuntimeError naming the reason when no device can be used (checked once, then cached).
void require_device();

// ValueError unless `a` has dtype `dt` and a shape matching `expected` (-1 matches any size).
inline void require_array(const DeviceArray& a, const char* name, DType dt,
                          const std::vector<int64_t>& expected) {
  DLK_CHECK(a.dtype == dt, name, ": expected a ", dtype_name(dt), " DeviceArray, got ",
            dtype_name(a.dtype));
  bool ok = a.shape.size() == expected.size();
  for (size_t i = 0; ok && i < expected.size(); ++i)
    ok = expected[i] < 0 || expected[i] == a.shape[i];
  DLK_CHECK(ok, name, ": expected shape ", shape_str(expected), ", got ", shape_str(a.shape));
}

}  // namespace dlk::cuda
