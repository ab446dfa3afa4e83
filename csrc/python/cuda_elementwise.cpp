// Bindings of the CUDA elementwise helpers a backend needs (csrc/cuda/elementwise.cu). Arguments
// are DeviceArrays (float32; int64 for targets and argmax); every shape and dtype is checked here
// and a mismatch raises ValueError naming what was expected and what came. Results are new
// DeviceArrays.
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <optional>

#include "cuda/kernels.h"
#include "python/cuda_bindings.h"

namespace dlk::cuda {

void bind_elementwise(py::module_& m) {
  m.def(
      "sum_rows",
      [](const DeviceArray& x) {
        require_device();
        require_array(x, "x", DType::float32, {-1, -1});
        ArrayPtr out = new_array({x.shape[1]});
        column_sum(x.f32(), x.shape[1], nullptr, 0, x.shape[0], x.shape[1], out->f32(), false);
        return out;
      },
      py::arg("x"), "Sum over axis 0 of a 2-D array (bias gradients), deterministic.");
  m.def(
      "axpy",
      [](DeviceArray& y, const DeviceArray& x, double alpha) {
        require_device();
        require_array(y, "y", DType::float32, std::vector<int64_t>(y.shape));
        require_array(x, "x", DType::float32, std::vector<int64_t>(y.shape));
        axpy_f32(y.f32(), x.f32(), y.size(), float(alpha));
      },
      py::arg("y"), py::arg("x"), py::arg("alpha") = 1.0, "y += alpha * x (in place).");
}

}  // namespace dlk::cuda
