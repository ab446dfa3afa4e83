// Bindings for the fused softmax cross-entropy and log-softmax (csrc/cpu/softmax_xent.cpp).
#include <pybind11/stl.h>

#include "cpu/softmax_xent.h"
#include "python/array_checks.h"
#include "python/cpu_bindings.h"

namespace py = pybind11;

namespace dlk {
namespace {

using namespace py_checks;

enum class Reduction { None, Mean, Sum };

Reduction parse_reduction(const std::string& r) {
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  if (r == "none") return Reduction::None;
  fail("reduction: expected 'mean', 'sum' or 'none', got '", r, "'");
}

// logits (N, C) of dtype T and targets (N,) of any integer dtype, made C-contiguous (and int64)
// in place.
template <typename T>
void check_logits_targets(py::array& logits, py::array& targets) {
  require_ndim(logits, 2, "logits");
  make_c_contiguous<T>(logits, "logits");
  DLK_CHECK(logits.shape(1) >= 1, "logits: expected at least one class, got shape ",
            shape_str(shape_of(logits)));
  make_index_array(targets, "targets");
  require_shape(targets, {logits.shape(0)}, "targets");
}

void check_smoothing(double eps) {
  DLK_CHECK(eps >= 0.0 && eps <= 1.0, "label_smoothing: expected a value in [0, 1], got ", eps);
}

// An output array: `out` when given (checked), else a new one of `shape`.
template <typename T>
py::array_t<T> output_like(py::object out, const std::vector<py::ssize_t>& shape,
                           const py::array& src, const char* what) {
  if (out.is_none()) return py::array_t<T>(shape);
  py::array o = out.cast<py::array>();
  require_dtype<T>(o, "out");
  require_shape(o, std::vector<int64_t>(shape.begin(), shape.end()), "out");
  require_c_contiguous(o, "out");
  require_writeable(o, "out");
  require_no_overlap(o, src, "out", what);
  return py::array_t<T>(o);
}

template <typename T>
py::tuple xent_forward(py::array logits, py::array targets, int64_t ign, double eps,
                       Reduction red) {
  check_logits_targets<T>(logits, targets);
  const int64_t N = logits.shape(0), C = logits.shape(1);
  // lse is float64 for float32 logits too (softmax_xent.h says why); it only travels to the
  // backward.
  py::array_t<T> loss_rows({N});
  py::array_t<double> lse({N});
  const T* x = static_cast<const T*>(logits.data());
  const int64_t* t = static_cast<const int64_t*>(targets.data());
  T* pl = loss_rows.mutable_data();
  double* ps = lse.mutable_data();
  int64_t count;
  double total = 0;
  {
    py::gil_scoped_release release;
    count = cpu::check_xent_targets(N, C, t, ign);
    cpu::softmax_xent_forward<T>(N, C, x, t, ign, eps, pl, ps);
    if (red != Reduction::None)
      for (int64_t i = 0; i < N; ++i) total += pl[i];
  }
  if (red == Reduction::None) return py::make_tuple(loss_rows, lse);
  // PyTorch's "mean" divides by the number of non-ignored targets (NaN when there are none).
  const double value = red == Reduction::Sum ? total : total / double(count);
  py::array_t<T> loss(std::vector<py::ssize_t>{});
  *loss.mutable_data() = T(value);
  return py::make_tuple(loss, lse);
}

template <typename T>
py::array xent_backward(py::array logits, py::array targets, py::array lse, py::object grad,
                        int64_t ign, double eps, Reduction red, py::object out) {
  check_logits_targets<T>(logits, targets);
  const int64_t N = logits.shape(0), C = logits.shape(1);
  // The forward's float64 lse; a float32 one (from an older caller) is widened, and the
  // gradient is then only as exact as it (3e-5 relative for an lse near 1000).
  DLK_CHECK(lse.dtype().is(py::dtype::of<double>()) || lse.dtype().is(py::dtype::of<float>()),
            "lse: expected a float64 (or float32) array, got dtype ", dtype_name(lse));
  lse = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(lse);
  require_shape(lse, {N}, "lse");
  py::array grad_rows;
  double gscalar = 1.0;
  if (red == Reduction::None) {
    DLK_CHECK(py::isinstance<py::array>(grad), "grad_loss: expected an array of shape (", N,
              ",) for reduction='none', got ", py::str(grad.get_type()).cast<std::string>());
    grad_rows = grad.cast<py::array>();
    make_c_contiguous<T>(grad_rows, "grad_loss");
    require_shape(grad_rows, {N}, "grad_loss");
  } else {
    py::array g = py::array::ensure(grad);
    DLK_CHECK(g && g.size() == 1, "grad_loss: expected a scalar for reduction='",
              red == Reduction::Mean ? "mean" : "sum", "'");
    gscalar = py::float_(g.attr("item")()).cast<double>();
  }
  auto dx = output_like<T>(out, {N, C}, logits, "logits");
  // The kernel reads lse[i], grad_loss[i] and targets[i] while it writes row i of dx.
  require_no_overlap(dx, lse, "out", "lse");
  require_no_overlap(dx, targets, "out", "targets");
  if (red == Reduction::None) require_no_overlap(dx, grad_rows, "out", "grad_loss");
  const T* x = static_cast<const T*>(logits.data());
  const int64_t* t = static_cast<const int64_t*>(targets.data());
  const double* pl = static_cast<const double*>(lse.data());
  const T* rs = red == Reduction::None ? static_cast<const T*>(grad_rows.data()) : nullptr;
  T* pd = dx.mutable_data();
  {
    py::gil_scoped_release release;
    const int64_t count = cpu::check_xent_targets(N, C, t, ign);
    const double scale = red == Reduction::Mean ? gscalar / double(count) : gscalar;
    cpu::softmax_xent_backward<T>(N, C, x, t, pl, ign, eps, rs, scale, pd);
  }
  return dx;
}

// Views an array as rows of its last axis: (rows, C).
std::pair<int64_t, int64_t> rows_cols(const py::array& a, const char* name) {
  DLK_CHECK(a.ndim() >= 1, name, ": expected at least 1 dimension, got a 0-d array");
  require_c_contiguous(a, name);  // the caller made it so
  const int64_t C = a.shape(a.ndim() - 1);
  return {C == 0 ? 0 : a.size() / C, C};
}

template <typename T>
py::array logsm_forward(py::array x, py::object out) {
  make_c_contiguous<T>(x, "x");
  auto [R, C] = rows_cols(x, "x");
  std::vector<py::ssize_t> shape(x.shape(), x.shape() + x.ndim());
  auto y = output_like<T>(out, shape, x, "x");
  const T* px = static_cast<const T*>(x.data());
  T* py_ = y.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::log_softmax_forward<T>(R, C, px, py_);
  }
  return y;
}

template <typename T>
py::array logsm_backward(py::array gy, py::array y, py::object out) {
  make_c_contiguous<T>(y, "y");
  auto [R, C] = rows_cols(y, "y");
  make_c_contiguous<T>(gy, "gy");
  require_shape(gy, shape_of(y), "gy");
  std::vector<py::ssize_t> shape(y.shape(), y.shape() + y.ndim());
  auto gx = output_like<T>(out, shape, y, "y");
  DLK_CHECK(gx.data() == gy.data() || !overlaps(gx, gy),
            "out must be gy itself or not share memory with it: a shifted overlap would read "
            "values the kernel has already overwritten");
  // gx may alias gy: each row reads gy fully (its sum) before writing, then element by element.
  const T* pg = static_cast<const T*>(gy.data());
  const T* py_ = static_cast<const T*>(y.data());
  T* px = gx.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::log_softmax_backward<T>(R, C, pg, py_, px);
  }
  return gx;
}

}  // namespace

void bind_softmax_xent(py::module_& m) {
  m.def(
      "softmax_cross_entropy_forward",
      [](py::array logits, py::array targets, int64_t ignore_index, double label_smoothing,
         const std::string& reduction) {
        require_ndim(logits, 2, "logits");
        check_smoothing(label_smoothing);
        const Reduction red = parse_reduction(reduction);
        return is_float64(logits, "logits")
                   ? xent_forward<double>(logits, targets, ignore_index, label_smoothing, red)
                   : xent_forward<float>(logits, targets, ignore_index, label_smoothing, red);
      },
      py::arg("logits"), py::arg("targets"), py::arg("ignore_index") = -100,
      py::arg("label_smoothing") = 0.0, py::arg("reduction") = "mean",
      "Fused softmax cross-entropy over logits (N, C) and int64 targets (N,).\n"
      "Returns (loss, lse): loss is a 0-d array ('mean', 'sum') or (N,) ('none'); lse (N,)\n"
      "float64 is the row log-sum-exp the backward needs (no probability matrix is kept).");
  m.def(
      "softmax_cross_entropy_backward",
      [](py::array logits, py::array targets, py::array lse, py::object grad_loss,
         int64_t ignore_index, double label_smoothing, const std::string& reduction,
         py::object out) {
        require_ndim(logits, 2, "logits");
        check_smoothing(label_smoothing);
        const Reduction red = parse_reduction(reduction);
        return is_float64(logits, "logits")
                   ? xent_backward<double>(logits, targets, lse, grad_loss, ignore_index,
                                           label_smoothing, red, out)
                   : xent_backward<float>(logits, targets, lse, grad_loss, ignore_index,
                                          label_smoothing, red, out);
      },
      py::arg("logits"), py::arg("targets"), py::arg("lse"), py::arg("grad_loss") = 1.0,
      py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
      py::arg("reduction") = "mean", py::kw_only(), py::arg("out") = py::none(),
      "dlogits = (softmax - smoothed onehot) * scale in one pass; grad_loss is a scalar for\n"
      "'mean'/'sum' and (N,) for 'none'. out=(N, C) array reuses a buffer.");
  m.def(
      "log_softmax_forward",
      [](py::array x, py::object out) {
        return is_float64(x, "x") ? logsm_forward<double>(x, out) : logsm_forward<float>(x, out);
      },
      py::arg("x"), py::kw_only(), py::arg("out") = py::none(),
      "y = x - logsumexp(x) over the last axis (any leading shape).");
  m.def(
      "log_softmax_backward",
      [](py::array gy, py::array y, py::object out) {
        return is_float64(y, "y") ? logsm_backward<double>(gy, y, out)
                                  : logsm_backward<float>(gy, y, out);
      },
      py::arg("gy"), py::arg("y"), py::kw_only(), py::arg("out") = py::none(),
      "gx = gy - exp(y) * sum(gy) over the last axis; out may be gy itself.");
  m.def(
      "set_softmax_xent_rung",
      [](const std::string& name) { cpu::set_softmax_xent_rung(cpu::xent_rung_from_name(name)); },
      py::arg("name"), "Force 'reference', 'avx2', 'avx512' (float32) or 'auto'.");
  m.def(
      "softmax_xent_exp",
      [](py::array x) {
        make_c_contiguous<float>(x, "x");
        py::array_t<float> y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
        const float* px = static_cast<const float*>(x.data());
        float* py_ = y.mutable_data();
        const int64_t n = x.size();
        {
          py::gil_scoped_release release;
          cpu::softmax_xent_exp(n, px, py_);
        }
        return y;
      },
      py::arg("x"),
      "exp(x) of a float32 array by the exp the current softmax_xent rung uses (for tests).");
  m.def("get_softmax_xent_rung",
        []() { return std::string(cpu::xent_rung_name(cpu::softmax_xent_rung_resolved(true))); });
}

}  // namespace dlk
