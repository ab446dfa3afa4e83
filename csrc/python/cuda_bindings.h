// The `_cuda` module is assembled from one bind_* function per kernel family, one binding file
// each (cuda_gemm.cpp, cuda_softmax_xent.cpp, cuda_pool2d.cpp, cuda_conv2d.cpp, cuda_rnn.cpp,
// cuda_elementwise.cpp), as the CPU side (cpu_*.cpp); the helpers they share are here.
#pragma once

#include <pybind11/pybind11.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "common/check.h"
#include "cuda/runtime.h"

namespace dlk::cuda {

namespace py = pybind11;

void bind_runtime(py::module_& m);
void bind_gemm(py::module_& m);
void bind_elementwise(py::module_& m);
void bind_softmax_xent(py::module_& m);
void bind_pool2d(py::module_& m);
void bind_conv2d(py::module_& m);
void bind_rnn(py::module_& m);

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

using OptArr = std::optional<ArrayPtr>;
using Pair = std::array<int64_t, 2>;
using Quad = std::array<int64_t, 4>;
using Pad = std::vector<int64_t>;  // (ph, pw) or (top, bottom, left, right)

inline const float* opt_ptr(const OptArr& a) { return a && *a ? (*a)->f32() : nullptr; }

// (ph, pw) pads both sides alike; (top, bottom, left, right) each side.
inline Quad padding4(const std::vector<int64_t>& p) {
  if (p.size() == 2) return Quad{p[0], p[0], p[1], p[1]};
  DLK_CHECK(p.size() == 4, "padding: expected (ph, pw) or (top, bottom, left, right), got ",
            shape_str(p));
  return Quad{p[0], p[1], p[2], p[3]};
}

inline std::vector<int64_t> nchw(const std::vector<int64_t>& gy_shape, int64_t C, const Pair& hw) {
  DLK_CHECK(gy_shape.size() == 4, "gy: expected a 4-D NCHW array, got shape ", shape_str(gy_shape));
  return {gy_shape[0], C, hw[0], hw[1]};
}

}  // namespace dlk::cuda
