// Bindings of the CUDA softmax cross-entropy and log-softmax (csrc/cuda/softmax_xent.cu). Arguments
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
namespace {

Reduction parse_reduction(const std::string& s) {
  if (s == "mean") return Reduction::mean;
  if (s == "sum") return Reduction::sum;
  if (s == "none") return Reduction::none;
  fail("reduction: expected 'mean', 'sum' or 'none', got '", s, "'");
}

void check_xent(const DeviceArray& logits, const DeviceArray& targets, double eps) {
  require_array(logits, "logits", DType::float32, {-1, -1});
  require_array(targets, "targets", DType::int64, {logits.shape[0]});
  DLK_CHECK(eps >= 0.0 && eps <= 1.0, "label_smoothing: expected a value in [0, 1], got ", eps);
  DLK_CHECK(logits.shape[1] > 0 || logits.shape[0] == 0, "logits: expected at least one class");
}

py::tuple xent_forward(const DeviceArray& logits, const DeviceArray& targets, int64_t ignore_index,
                       double eps, const std::string& reduction, bool check_targets) {
  require_device();
  check_xent(logits, targets, eps);
  const Reduction red = parse_reduction(reduction);
  const int64_t N = logits.shape[0], C = logits.shape[1];
  ArrayPtr loss = red == Reduction::none ? new_array({N}) : new_array({});
  ArrayPtr lse = new_array({N});
  int64_t bad;
  {
    py::gil_scoped_release release;
    bad = softmax_xent_forward(logits.f32(), targets.i64(), N, C, ignore_index, float(eps), red,
                               loss->f32(), lse->f32(), check_targets);
  }
  if (bad >= 0) {
    int64_t t = 0;
    DLK_CUDA_CHECK(cudaMemcpy(&t, targets.i64() + bad, sizeof(int64_t), cudaMemcpyDeviceToHost));
    fail("targets: expected class indices in [0, ", C, ") or ignore_index ", ignore_index, ", got ",
         t, " at row ", bad);
  }
  return py::make_tuple(loss, lse);
}

py::tuple xent_fused(const DeviceArray& logits, const DeviceArray& targets, int64_t ignore_index,
                     double eps, const std::string& reduction, double grad, bool check_targets) {
  require_device();
  check_xent(logits, targets, eps);
  const Reduction red = parse_reduction(reduction);
  const int64_t N = logits.shape[0], C = logits.shape[1];
  ArrayPtr loss = red == Reduction::none ? new_array({N}) : new_array({});
  ArrayPtr lse = new_array({N}), d = new_array({N, C});
  int64_t bad;
  {
    py::gil_scoped_release release;
    bad = softmax_xent_fused(logits.f32(), targets.i64(), N, C, ignore_index, float(eps), red,
                             float(grad), loss->f32(), lse->f32(), d->f32(), check_targets);
  }
  if (bad >= 0) {
    int64_t t = 0;
    DLK_CUDA_CHECK(cudaMemcpy(&t, targets.i64() + bad, sizeof(int64_t), cudaMemcpyDeviceToHost));
    fail("targets: expected class indices in [0, ", C, ") or ignore_index ", ignore_index, ", got ",
         t, " at row ", bad);
  }
  return py::make_tuple(loss, lse, d);
}

ArrayPtr xent_backward(const DeviceArray& logits, const DeviceArray& targets,
                       const DeviceArray& lse, py::object grad, int64_t ignore_index, double eps,
                       const std::string& reduction) {
  require_device();
  check_xent(logits, targets, eps);
  const Reduction red = parse_reduction(reduction);
  const int64_t N = logits.shape[0], C = logits.shape[1];
  require_array(lse, "lse", DType::float32, {N});
  ArrayPtr g;
  if (py::isinstance<DeviceArray>(grad)) {
    g = grad.cast<ArrayPtr>();
    DLK_CHECK(g->dtype == DType::float32, "grad_loss: expected float32, got ",
              dtype_name(g->dtype));
    if (red == Reduction::none)
      require_array(*g, "grad_loss", DType::float32, {N});
    else
      DLK_CHECK(g->size() == 1, "grad_loss: expected one element for reduction '", reduction,
                "', got shape ", shape_str(g->shape));
  } else {
    DLK_CHECK(red != Reduction::none,
              "grad_loss: expected a DeviceArray of shape (N,) for reduction 'none', got a number");
    g = new_array({1});
    fill_f32(g->f32(), 1, grad.cast<float>());
  }
  ArrayPtr d = new_array({N, C});
  softmax_xent_backward(logits.f32(), targets.i64(), lse.f32(), g->f32(), N, C, ignore_index,
                        float(eps), red, d->f32());
  return d;
}

}  // namespace

void bind_softmax_xent(py::module_& m) {
  m.def("softmax_cross_entropy_forward", &xent_forward, py::arg("logits"), py::arg("targets"),
        py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
        py::arg("reduction") = "mean", py::kw_only(), py::arg("check_targets") = true,
        "(loss, lse): loss () for mean/sum or (N,) for none; lse (N,) is kept for backward.\n"
        "Targets outside [0, C) other than ignore_index raise ValueError (this waits for the\n"
        "GPU); check_targets=False skips the check and the wait, and such rows get a NaN loss.");
  m.def(
      "softmax_cross_entropy_backward", &xent_backward, py::arg("logits"), py::arg("targets"),
      py::arg("lse"), py::arg("grad_loss") = 1.0, py::arg("ignore_index") = -100,
      py::arg("label_smoothing") = 0.0, py::arg("reduction") = "mean",
      "dlogits (N, C) = (softmax - q) * grad_loss [/ valid rows for mean]; grad_loss is a number\n"
      "or a DeviceArray (one element for mean/sum, (N,) for none).");
  m.def("softmax_cross_entropy_fused", &xent_fused, py::arg("logits"), py::arg("targets"),
        py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
        py::arg("reduction") = "mean", py::kw_only(), py::arg("grad_loss") = 1.0,
        py::arg("check_targets") = true,
        "(loss, lse, dlogits): forward and backward in one kernel; dlogits is the gradient of\n"
        "grad_loss * loss (for 'none': of grad_loss * the sum of the row losses).");
  m.def(
      "log_softmax_forward",
      [](const DeviceArray& x) {
        require_device();
        require_array(x, "x", DType::float32, {-1, -1});
        ArrayPtr y = new_array(x.shape);
        log_softmax_forward(x.f32(), x.shape[0], x.shape[1], y->f32());
        return y;
      },
      py::arg("x"), "Row-wise log-softmax of a 2-D array.");
  m.def(
      "log_softmax_backward",
      [](const DeviceArray& gy, const DeviceArray& y) {
        require_device();
        require_array(y, "y", DType::float32, {-1, -1});
        require_array(gy, "gy", DType::float32, y.shape);
        ArrayPtr gx = new_array(y.shape);
        log_softmax_backward(y.f32(), gy.f32(), y.shape[0], y.shape[1], gx->f32());
        return gx;
      },
      py::arg("gy"), py::arg("y"), "gx = gy - exp(y) * sum(gy) per row (y = log_softmax(x)).");
  m.def("set_softmax_xent_rung", &set_softmax_rung, py::arg("name"),
        "Force the row kernel: 'reference', 'warp', 'block' or 'auto'.");
  m.def("get_softmax_xent_rung", &get_softmax_rung);
}

}  // namespace dlk::cuda
