// Bindings of the CUDA GEMM (csrc/cuda/gemm.cu). Arguments are DeviceArrays (float32; int64 for
// targets and argmax); every shape and dtype is checked here and a mismatch raises ValueError
// naming what was expected and what came. Results are new DeviceArrays.
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <optional>

#include "cuda/kernels.h"
#include "python/cuda_bindings.h"

namespace dlk::cuda {
namespace {

ArrayPtr gemm_py(const DeviceArray& a, const DeviceArray& b, OptArr c_opt, bool ta, bool tb,
                 double alpha, double beta) {
  require_device();
  require_array(a, "a", DType::float32, {-1, -1});
  require_array(b, "b", DType::float32, {-1, -1});
  const int64_t M = ta ? a.shape[1] : a.shape[0], K = ta ? a.shape[0] : a.shape[1];
  const int64_t Kb = tb ? b.shape[1] : b.shape[0], N = tb ? b.shape[0] : b.shape[1];
  DLK_CHECK(K == Kb, "gemm: inner dimensions differ: op(a) is ", shape_str({M, K}),
            " and op(b) is ", shape_str({Kb, N}));
  ArrayPtr c;
  if (c_opt && *c_opt) {
    c = *c_opt;
    require_array(*c, "c", DType::float32, {M, N});
    DLK_CHECK(c->storage != a.storage && c->storage != b.storage,
              "c must not share memory with a or b");
  } else {
    c = new_array({M, N});
    beta = 0.0;
  }
  gemm(ta, tb, M, N, K, float(alpha), a.f32(), std::max<int64_t>(a.shape[1], 1), b.f32(),
       std::max<int64_t>(b.shape[1], 1), float(beta), c->f32(), std::max<int64_t>(N, 1));
  return c;
}

}  // namespace

void bind_gemm(py::module_& m) {
  m.def("gemm", &gemm_py, py::arg("a"), py::arg("b"), py::arg("c") = py::none(), py::kw_only(),
        py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("alpha") = 1.0,
        py::arg("beta") = 0.0,
        "c = alpha * op(a) @ op(b) + beta * c on the GPU (float32 DeviceArrays). With c=None a\n"
        "new array is returned and beta is ignored; beta=0 ignores what c held, NaN included.");
  m.def(
      "set_gemm_rung", [](const std::string& n) { set_gemm_rung(gemm_rung_from_name(n)); },
      py::arg("name"),
      "Force a rung of the GEMM ladder: 'naive', 'smem', 'regtile', 'vec', 'warptile' or 'auto'.");
  m.def("get_gemm_rung", []() { return std::string(gemm_rung_name(get_gemm_rung())); });
}

}  // namespace dlk::cuda
