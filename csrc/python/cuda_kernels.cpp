// Bindings of the CUDA kernel families. Arguments are DeviceArrays (float32; int64 for
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

using OptArr = std::optional<ArrayPtr>;
using Pair = std::array<int64_t, 2>;
using Quad = std::array<int64_t, 4>;

const float* opt_ptr(const OptArr& a) { return a && *a ? (*a)->f32() : nullptr; }

// ---- GEMM -----------------------------------------------------------------------------------
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

// ---- softmax cross-entropy ------------------------------------------------------------------
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

py::tuple xent_forward(const DeviceArray& logits, const DeviceArray& targets,
                       const std::string& reduction, int64_t ignore_index, double eps,
                       bool check_targets) {
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
    fail("targets: expected class indices in [0, ", C, ") or ignore_index ", ignore_index,
         ", got ", t, " at row ", bad);
  }
  return py::make_tuple(loss, lse);
}

py::tuple xent_fused(const DeviceArray& logits, const DeviceArray& targets,
                     const std::string& reduction, int64_t ignore_index, double eps, double grad,
                     bool check_targets) {
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
    fail("targets: expected class indices in [0, ", C, ") or ignore_index ", ignore_index,
         ", got ", t, " at row ", bad);
  }
  return py::make_tuple(loss, lse, d);
}

ArrayPtr xent_backward(const DeviceArray& logits, const DeviceArray& targets,
                       const DeviceArray& lse, py::object grad, const std::string& reduction,
                       int64_t ignore_index, double eps) {
  require_device();
  check_xent(logits, targets, eps);
  const Reduction red = parse_reduction(reduction);
  const int64_t N = logits.shape[0], C = logits.shape[1];
  require_array(lse, "lse", DType::float32, {N});
  ArrayPtr g;
  if (py::isinstance<DeviceArray>(grad)) {
    g = grad.cast<ArrayPtr>();
    DLK_CHECK(g->dtype == DType::float32, "grad: expected float32, got ", dtype_name(g->dtype));
    if (red == Reduction::none)
      require_array(*g, "grad", DType::float32, {N});
    else
      DLK_CHECK(g->size() == 1, "grad: expected one element for reduction '", reduction,
                "', got shape ", shape_str(g->shape));
  } else {
    DLK_CHECK(red != Reduction::none,
              "grad: expected a DeviceArray of shape (N,) for reduction 'none', got a number");
    g = new_array({1});
    fill_f32(g->f32(), 1, grad.cast<float>());
  }
  ArrayPtr d = new_array({N, C});
  softmax_xent_backward(logits.f32(), targets.i64(), lse.f32(), g->f32(), N, C, ignore_index,
                        float(eps), red, d->f32());
  return d;
}

// ---- pooling --------------------------------------------------------------------------------
PoolGeom pool_geom(const std::vector<int64_t>& xshape, Pair kernel, std::optional<Pair> stride,
                   Quad pad) {
  DLK_CHECK(xshape.size() == 4, "x: expected a 4-D NCHW array, got shape ", shape_str(xshape));
  PoolGeom g{};
  g.N = xshape[0], g.C = xshape[1], g.H = xshape[2], g.W = xshape[3];
  g.KH = kernel[0], g.KW = kernel[1];
  const Pair st = stride ? *stride : kernel;
  g.SH = st[0], g.SW = st[1];
  g.PT = pad[0], g.PB = pad[1], g.PL = pad[2], g.PR = pad[3];
  DLK_CHECK(g.KH > 0 && g.KW > 0, "kernel: expected positive sizes, got ", shape_str({g.KH, g.KW}));
  DLK_CHECK(g.SH > 0 && g.SW > 0, "stride: expected positive sizes, got ", shape_str({g.SH, g.SW}));
  DLK_CHECK(g.PT >= 0 && g.PB >= 0 && g.PL >= 0 && g.PR >= 0,
            "padding: expected non-negative (top, bottom, left, right), got ",
            shape_str({g.PT, g.PB, g.PL, g.PR}));
  DLK_CHECK(g.H + g.PT + g.PB >= g.KH && g.W + g.PL + g.PR >= g.KW, "kernel ",
            shape_str({g.KH, g.KW}), " is larger than the padded input ",
            shape_str({g.H + g.PT + g.PB, g.W + g.PL + g.PR}));
  g.OH = (g.H + g.PT + g.PB - g.KH) / g.SH + 1;
  g.OW = (g.W + g.PL + g.PR - g.KW) / g.SW + 1;
  return g;
}

// ---- conv -----------------------------------------------------------------------------------
ConvGeom conv_geom(const std::vector<int64_t>& xs, const std::vector<int64_t>& ws, Pair stride,
                   Quad pad, Pair dil, int64_t groups) {
  DLK_CHECK(xs.size() == 4, "x: expected a 4-D NCHW array, got shape ", shape_str(xs));
  DLK_CHECK(ws.size() == 4, "weight: expected a 4-D (K, C/groups, R, S) array, got shape ",
            shape_str(ws));
  DLK_CHECK(groups >= 1, "groups: expected >= 1, got ", groups);
  ConvGeom g{};
  g.N = xs[0], g.C = xs[1], g.H = xs[2], g.W = xs[3];
  g.K = ws[0], g.R = ws[2], g.S = ws[3], g.G = groups;
  g.SH = stride[0], g.SW = stride[1], g.DH = dil[0], g.DW = dil[1];
  g.PT = pad[0], g.PB = pad[1], g.PL = pad[2], g.PR = pad[3];
  DLK_CHECK(g.C % groups == 0 && g.K % groups == 0, "groups: ", groups,
            " must divide the input channels ", g.C, " and the output channels ", g.K);
  DLK_CHECK(ws[1] == g.C / groups, "weight: expected shape ",
            shape_str({g.K, g.C / groups, g.R, g.S}), ", got ", shape_str(ws));
  DLK_CHECK(g.SH > 0 && g.SW > 0 && g.DH > 0 && g.DW > 0,
            "stride and dilation: expected positive values, got ", shape_str({g.SH, g.SW}),
            " and ", shape_str({g.DH, g.DW}));
  DLK_CHECK(g.PT >= 0 && g.PB >= 0 && g.PL >= 0 && g.PR >= 0,
            "padding: expected non-negative (top, bottom, left, right), got ",
            shape_str({g.PT, g.PB, g.PL, g.PR}));
  DLK_CHECK(g.R > 0 && g.S > 0, "weight: expected a non-empty kernel, got ", shape_str(ws));
  const int64_t eh = g.DH * (g.R - 1) + 1, ew = g.DW * (g.S - 1) + 1;
  DLK_CHECK(g.H + g.PT + g.PB >= eh && g.W + g.PL + g.PR >= ew, "the dilated kernel ",
            shape_str({eh, ew}), " is larger than the padded input ",
            shape_str({g.H + g.PT + g.PB, g.W + g.PL + g.PR}));
  g.OH = (g.H + g.PT + g.PB - eh) / g.SH + 1;
  g.OW = (g.W + g.PL + g.PR - ew) / g.SW + 1;
  return g;
}

// ---- recurrent ------------------------------------------------------------------------------
void check_lstm(const RnnDims& d, const DeviceArray& h0, const DeviceArray& c0,
                const DeviceArray& w_x, const DeviceArray& w_h, const DeviceArray& b,
                const OptArr& peep) {
  require_array(h0, "h0", DType::float32, {d.N, d.H});
  require_array(c0, "c0", DType::float32, {d.N, d.H});
  require_array(w_x, "w_x", DType::float32, {4 * d.H, d.I});
  require_array(w_h, "w_h", DType::float32, {4 * d.H, d.H});
  require_array(b, "b", DType::float32, {4 * d.H});
  if (peep && *peep) require_array(**peep, "peephole", DType::float32, {3, d.H});
}

RnnDims dims_of(const DeviceArray& x, const DeviceArray& w_h, int64_t gates) {
  require_array(x, "x", DType::float32, {-1, -1, -1});
  DLK_CHECK(w_h.ndim() == 2 && w_h.shape[0] % gates == 0, "w_h: expected shape (", gates,
            "*H, H), got ", shape_str(w_h.shape));
  return RnnDims{x.shape[0], x.shape[1], x.shape[2], w_h.shape[0] / gates};
}

void check_gru(const RnnDims& d, const DeviceArray& h0, const DeviceArray& w_x,
               const DeviceArray& w_h, const OptArr& b_x, const OptArr& b_h) {
  require_array(h0, "h0", DType::float32, {d.N, d.H});
  require_array(w_x, "w_x", DType::float32, {3 * d.H, d.I});
  require_array(w_h, "w_h", DType::float32, {3 * d.H, d.H});
  if (b_x && *b_x) require_array(**b_x, "b_x", DType::float32, {3 * d.H});
  if (b_h && *b_h) require_array(**b_h, "b_h", DType::float32, {3 * d.H});
}

}  // namespace

void bind_kernels(py::module_& m) {
  // GEMM
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

  // elementwise helpers the backends need
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

  // softmax cross-entropy and log-softmax
  m.def("softmax_cross_entropy_forward", &xent_forward, py::arg("logits"), py::arg("targets"),
        py::kw_only(), py::arg("reduction") = "mean", py::arg("ignore_index") = -100,
        py::arg("label_smoothing") = 0.0, py::arg("check_targets") = true,
        "(loss, lse): loss () for mean/sum or (N,) for none; lse (N,) is kept for backward.\n"
        "Targets outside [0, C) other than ignore_index raise ValueError (this waits for the\n"
        "GPU); check_targets=False skips the check and the wait, and such rows get a NaN loss.");
  m.def("softmax_cross_entropy_backward", &xent_backward, py::arg("logits"), py::arg("targets"),
        py::arg("lse"), py::arg("grad") = 1.0, py::kw_only(), py::arg("reduction") = "mean",
        py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
        "dlogits (N, C) = (softmax - q) * grad [/ valid rows for mean]; grad is a number or a\n"
        "DeviceArray (one element for mean/sum, (N,) for none).");
  m.def("softmax_cross_entropy_fused", &xent_fused, py::arg("logits"), py::arg("targets"),
        py::kw_only(), py::arg("reduction") = "mean", py::arg("ignore_index") = -100,
        py::arg("label_smoothing") = 0.0, py::arg("grad") = 1.0, py::arg("check_targets") = true,
        "(loss, lse, dlogits): forward and backward in one kernel; dlogits is the gradient of\n"
        "grad * loss (for 'none': of grad * sum of the row losses).");
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
      [](const DeviceArray& y, const DeviceArray& dy) {
        require_device();
        require_array(y, "y", DType::float32, {-1, -1});
        require_array(dy, "dy", DType::float32, y.shape);
        ArrayPtr dx = new_array(y.shape);
        log_softmax_backward(y.f32(), dy.f32(), y.shape[0], y.shape[1], dx->f32());
        return dx;
      },
      py::arg("y"), py::arg("dy"), "dx = dy - exp(y) * sum(dy) per row (y = log_softmax(x)).");
  m.def("set_softmax_rung", &set_softmax_rung, py::arg("name"),
        "Force the row kernel: 'reference', 'warp', 'block' or 'auto'.");
  m.def("get_softmax_rung", &get_softmax_rung);

  // pooling
  m.def(
      "max_pool2d_forward",
      [](const DeviceArray& x, Pair kernel, std::optional<Pair> stride, Quad padding) {
        require_device();
        require_array(x, "x", DType::float32, {-1, -1, -1, -1});
        const PoolGeom g = pool_geom(x.shape, kernel, stride, padding);
        ArrayPtr y = new_array({g.N, g.C, g.OH, g.OW});
        ArrayPtr arg = new_array({g.N, g.C, g.OH, g.OW}, DType::int64);
        max_pool2d_forward(g, x.f32(), y->f32(), arg->i64());
        return py::make_tuple(y, arg);
      },
      py::arg("x"), py::arg("kernel"), py::arg("stride") = py::none(),
      py::arg("padding") = Quad{0, 0, 0, 0},
      "(y, argmax): argmax is h*W + w in the (n, c) plane, -1 for a window wholly in padding.");
  m.def(
      "max_pool2d_backward",
      [](const DeviceArray& dy, const DeviceArray& argmax, std::vector<int64_t> input_shape,
         Pair kernel, std::optional<Pair> stride, Quad padding) {
        require_device();
        const PoolGeom g = pool_geom(input_shape, kernel, stride, padding);
        require_array(dy, "dy", DType::float32, {g.N, g.C, g.OH, g.OW});
        require_array(argmax, "argmax", DType::int64, {g.N, g.C, g.OH, g.OW});
        ArrayPtr dx = new_array(input_shape);
        max_pool2d_backward(g, dy.f32(), argmax.i64(), dx->f32());
        return dx;
      },
      py::arg("dy"), py::arg("argmax"), py::arg("input_shape"), py::arg("kernel"),
      py::arg("stride") = py::none(), py::arg("padding") = Quad{0, 0, 0, 0});
  m.def(
      "avg_pool2d_forward",
      [](const DeviceArray& x, Pair kernel, std::optional<Pair> stride, Quad padding,
         bool count_include_pad) {
        require_device();
        require_array(x, "x", DType::float32, {-1, -1, -1, -1});
        const PoolGeom g = pool_geom(x.shape, kernel, stride, padding);
        ArrayPtr y = new_array({g.N, g.C, g.OH, g.OW});
        avg_pool2d_forward(g, x.f32(), y->f32(), count_include_pad);
        return y;
      },
      py::arg("x"), py::arg("kernel"), py::arg("stride") = py::none(),
      py::arg("padding") = Quad{0, 0, 0, 0}, py::arg("count_include_pad") = true);
  m.def(
      "avg_pool2d_backward",
      [](const DeviceArray& dy, std::vector<int64_t> input_shape, Pair kernel,
         std::optional<Pair> stride, Quad padding, bool count_include_pad) {
        require_device();
        const PoolGeom g = pool_geom(input_shape, kernel, stride, padding);
        require_array(dy, "dy", DType::float32, {g.N, g.C, g.OH, g.OW});
        ArrayPtr dx = new_array(input_shape);
        avg_pool2d_backward(g, dy.f32(), dx->f32(), count_include_pad);
        return dx;
      },
      py::arg("dy"), py::arg("input_shape"), py::arg("kernel"), py::arg("stride") = py::none(),
      py::arg("padding") = Quad{0, 0, 0, 0}, py::arg("count_include_pad") = true);

  // convolution
  m.def(
      "conv2d_forward",
      [](const DeviceArray& x, const DeviceArray& w, OptArr b, Pair stride, Quad padding,
         Pair dilation, int64_t groups) {
        require_device();
        require_array(x, "x", DType::float32, {-1, -1, -1, -1});
        require_array(w, "weight", DType::float32, {-1, -1, -1, -1});
        const ConvGeom g = conv_geom(x.shape, w.shape, stride, padding, dilation, groups);
        if (b && *b) require_array(**b, "bias", DType::float32, {g.K});
        ArrayPtr y = new_array({g.N, g.K, g.OH, g.OW});
        conv2d_forward(g, x.f32(), w.f32(), opt_ptr(b), y->f32());
        return y;
      },
      py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(), py::kw_only(),
      py::arg("stride") = Pair{1, 1}, py::arg("padding") = Quad{0, 0, 0, 0},
      py::arg("dilation") = Pair{1, 1}, py::arg("groups") = 1,
      "y (N, K, OH, OW) = conv2d(x (N, C, H, W), weight (K, C/groups, R, S)) + bias.");
  m.def(
      "conv2d_backward_input",
      [](const DeviceArray& dy, const DeviceArray& w, std::vector<int64_t> input_shape,
         Pair stride, Quad padding, Pair dilation, int64_t groups) {
        require_device();
        require_array(w, "weight", DType::float32, {-1, -1, -1, -1});
        const ConvGeom g = conv_geom(input_shape, w.shape, stride, padding, dilation, groups);
        require_array(dy, "dy", DType::float32, {g.N, g.K, g.OH, g.OW});
        ArrayPtr dx = new_array(input_shape);
        conv2d_backward_input(g, dy.f32(), w.f32(), dx->f32());
        return dx;
      },
      py::arg("dy"), py::arg("weight"), py::arg("input_shape"), py::kw_only(),
      py::arg("stride") = Pair{1, 1}, py::arg("padding") = Quad{0, 0, 0, 0},
      py::arg("dilation") = Pair{1, 1}, py::arg("groups") = 1);
  m.def(
      "conv2d_backward_weight",
      [](const DeviceArray& x, const DeviceArray& dy, std::vector<int64_t> weight_shape,
         Pair stride, Quad padding, Pair dilation, int64_t groups) {
        require_device();
        require_array(x, "x", DType::float32, {-1, -1, -1, -1});
        const ConvGeom g = conv_geom(x.shape, weight_shape, stride, padding, dilation, groups);
        require_array(dy, "dy", DType::float32, {g.N, g.K, g.OH, g.OW});
        ArrayPtr dw = new_array(weight_shape);
        conv2d_backward_weight(g, x.f32(), dy.f32(), dw->f32());
        return dw;
      },
      py::arg("x"), py::arg("dy"), py::arg("weight_shape"), py::kw_only(),
      py::arg("stride") = Pair{1, 1}, py::arg("padding") = Quad{0, 0, 0, 0},
      py::arg("dilation") = Pair{1, 1}, py::arg("groups") = 1);
  m.def(
      "conv2d_backward_bias",
      [](const DeviceArray& dy) {
        require_device();
        require_array(dy, "dy", DType::float32, {-1, -1, -1, -1});
        ConvGeom g{};
        g.N = dy.shape[0], g.K = dy.shape[1], g.OH = dy.shape[2], g.OW = dy.shape[3];
        ArrayPtr db = new_array({g.K});
        conv2d_backward_bias(g, dy.f32(), db->f32());
        return db;
      },
      py::arg("dy"), "db (K,) = dy summed over (n, oh, ow).");

  // LSTM
  m.def(
      "lstm_pointwise_forward",
      [](const DeviceArray& gates, const DeviceArray& c_prev, OptArr bias, OptArr peep,
         bool coupled) {
        require_device();
        require_array(c_prev, "c_prev", DType::float32, {-1, -1});
        const int64_t N = c_prev.shape[0], H = c_prev.shape[1];
        require_array(gates, "gates", DType::float32, {N, 4 * H});
        if (bias && *bias) require_array(**bias, "bias", DType::float32, {4 * H});
        if (peep && *peep) require_array(**peep, "peephole", DType::float32, {3, H});
        ArrayPtr h = new_array({N, H}), c = new_array({N, H}), act = new_array({N, 4 * H});
        lstm_pointwise_forward(gates.f32(), opt_ptr(bias), c_prev.f32(), opt_ptr(peep), coupled,
                               N, H, h->f32(), c->f32(), act->f32());
        return py::make_tuple(h, c, act);
      },
      py::arg("gates"), py::arg("c_prev"), py::arg("bias") = py::none(),
      py::arg("peephole") = py::none(), py::kw_only(), py::arg("coupled") = false,
      "(h, c, act) from gate pre-activations (N, 4H) in order i, f, g, o; act = activated gates.");
  m.def(
      "lstm_pointwise_backward",
      [](OptArr dh, OptArr dc, const DeviceArray& c_prev, const DeviceArray& c,
         const DeviceArray& act, OptArr peep, bool coupled) {
        require_device();
        require_array(c_prev, "c_prev", DType::float32, {-1, -1});
        const int64_t N = c_prev.shape[0], H = c_prev.shape[1];
        require_array(c, "c", DType::float32, {N, H});
        require_array(act, "act", DType::float32, {N, 4 * H});
        if (dh && *dh) require_array(**dh, "dh", DType::float32, {N, H});
        if (dc && *dc) require_array(**dc, "dc", DType::float32, {N, H});
        if (peep && *peep) require_array(**peep, "peephole", DType::float32, {3, H});
        ArrayPtr dg = new_array({N, 4 * H}), dcp = new_array({N, H});
        lstm_pointwise_backward(opt_ptr(dh), nullptr, opt_ptr(dc), c_prev.f32(), c.f32(),
                                act.f32(), opt_ptr(peep), coupled, N, H, dg->f32(), dcp->f32());
        py::object dpeep = py::none();
        if (peep && *peep) {
          ArrayPtr dp = new_array({3, H});
          column_sum(dg->f32(), 4 * H, c_prev.f32(), H, N, H, dp->f32(), false);
          column_sum(dg->f32() + H, 4 * H, c_prev.f32(), H, N, H, dp->f32() + H, false);
          column_sum(dg->f32() + 3 * H, 4 * H, c.f32(), H, N, H, dp->f32() + 2 * H, false);
          dpeep = py::cast(dp);
        }
        return py::make_tuple(dg, dcp, dpeep);
      },
      py::arg("dh"), py::arg("dc"), py::arg("c_prev"), py::arg("c"), py::arg("act"),
      py::arg("peephole") = py::none(), py::kw_only(), py::arg("coupled") = false,
      "(dgates (N, 4H), dc_prev, dpeephole or None); dh and dc may be None (zero).");
  m.def(
      "lstm_forward",
      [](const DeviceArray& x, const DeviceArray& h0, const DeviceArray& c0,
         const DeviceArray& w_x, const DeviceArray& w_h, const DeviceArray& b, OptArr peep,
         bool coupled, bool reverse) {
        require_device();
        const RnnDims d = dims_of(x, w_h, 4);
        check_lstm(d, h0, c0, w_x, w_h, b, peep);
        ArrayPtr hs = new_array({d.T, d.N, d.H}), cs = new_array({d.T, d.N, d.H});
        ArrayPtr act = new_array({d.T, d.N, 4 * d.H});
        lstm_sequence_forward(d, x.f32(), h0.f32(), c0.f32(), w_x.f32(), w_h.f32(), b.f32(),
                              opt_ptr(peep), coupled, reverse, hs->f32(), cs->f32(), act->f32());
        return py::make_tuple(hs, cs, act);
      },
      py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_x"), py::arg("w_h"), py::arg("b"),
      py::arg("peephole") = py::none(), py::kw_only(), py::arg("coupled") = false,
      py::arg("reverse") = false,
      "(hs, cs, act) over x (T, N, I); w_x (4H, I), w_h (4H, H), b (4H,), peephole (3, H).\n"
      "A single cell step is T = 1.");
  m.def(
      "lstm_backward",
      [](const DeviceArray& dhs, OptArr dc_last, const DeviceArray& x, const DeviceArray& h0,
         const DeviceArray& c0, const DeviceArray& w_x, const DeviceArray& w_h,
         const DeviceArray& b, const DeviceArray& hs, const DeviceArray& cs,
         const DeviceArray& act, OptArr peep, bool coupled, bool reverse) {
        require_device();
        const RnnDims d = dims_of(x, w_h, 4);
        check_lstm(d, h0, c0, w_x, w_h, b, peep);
        require_array(dhs, "dhs", DType::float32, {d.T, d.N, d.H});
        require_array(hs, "hs", DType::float32, {d.T, d.N, d.H});
        require_array(cs, "cs", DType::float32, {d.T, d.N, d.H});
        require_array(act, "act", DType::float32, {d.T, d.N, 4 * d.H});
        if (dc_last && *dc_last) require_array(**dc_last, "dc_last", DType::float32, {d.N, d.H});
        ArrayPtr dx = new_array({d.T, d.N, d.I}), dh0 = new_array({d.N, d.H});
        ArrayPtr dc0 = new_array({d.N, d.H}), dwx = new_array({4 * d.H, d.I});
        ArrayPtr dwh = new_array({4 * d.H, d.H}), db = new_array({4 * d.H});
        ArrayPtr dp = peep && *peep ? new_array({3, d.H}) : nullptr;
        lstm_sequence_backward(d, dhs.f32(), opt_ptr(dc_last), x.f32(), h0.f32(), c0.f32(),
                               w_x.f32(), w_h.f32(), opt_ptr(peep), coupled, reverse, hs.f32(),
                               cs.f32(), act.f32(), dx->f32(), dh0->f32(), dc0->f32(), dwx->f32(),
                               dwh->f32(), db->f32(), dp ? dp->f32() : nullptr);
        return py::make_tuple(dx, dh0, dc0, dwx, dwh, db, dp ? py::cast(dp) : py::none());
      },
      py::arg("dhs"), py::arg("dc_last"), py::arg("x"), py::arg("h0"), py::arg("c0"),
      py::arg("w_x"), py::arg("w_h"), py::arg("b"), py::arg("hs"), py::arg("cs"), py::arg("act"),
      py::arg("peephole") = py::none(), py::kw_only(), py::arg("coupled") = false,
      py::arg("reverse") = false,
      "(dx, dh0, dc0, dw_x, dw_h, db, dpeephole or None). dhs: gradient of every h_t;\n"
      "dc_last: gradient of the last cell state (None = 0).");

  // GRU
  m.def(
      "gru_forward",
      [](const DeviceArray& x, const DeviceArray& h0, const DeviceArray& w_x,
         const DeviceArray& w_h, OptArr b_x, OptArr b_h, bool reset_after, bool reverse) {
        require_device();
        const RnnDims d = dims_of(x, w_h, 3);
        check_gru(d, h0, w_x, w_h, b_x, b_h);
        ArrayPtr hs = new_array({d.T, d.N, d.H}), act = new_array({d.T, d.N, 3 * d.H});
        ArrayPtr aux = new_array({d.T, d.N, d.H});
        gru_sequence_forward(d, x.f32(), h0.f32(), w_x.f32(), w_h.f32(), opt_ptr(b_x),
                             opt_ptr(b_h), reset_after, reverse, hs->f32(), act->f32(),
                             aux->f32());
        return py::make_tuple(hs, act, aux);
      },
      py::arg("x"), py::arg("h0"), py::arg("w_x"), py::arg("w_h"), py::arg("b_x") = py::none(),
      py::arg("b_h") = py::none(), py::kw_only(), py::arg("reset_after") = false,
      py::arg("reverse") = false,
      "(hs, act, aux) over x (T, N, I); gate order r, z, n; w_x (3H, I), w_h (3H, H).\n"
      "act = activated [r, z, n]; aux = r*h_prev (notes) or W_hn h_prev + b_hn (reset_after).");
  m.def(
      "gru_backward",
      [](const DeviceArray& dhs, const DeviceArray& x, const DeviceArray& h0,
         const DeviceArray& w_x, const DeviceArray& w_h, const DeviceArray& hs,
         const DeviceArray& act, const DeviceArray& aux, bool reset_after, bool reverse) {
        require_device();
        const RnnDims d = dims_of(x, w_h, 3);
        check_gru(d, h0, w_x, w_h, std::nullopt, std::nullopt);
        require_array(dhs, "dhs", DType::float32, {d.T, d.N, d.H});
        require_array(hs, "hs", DType::float32, {d.T, d.N, d.H});
        require_array(act, "act", DType::float32, {d.T, d.N, 3 * d.H});
        require_array(aux, "aux", DType::float32, {d.T, d.N, d.H});
        ArrayPtr dx = new_array({d.T, d.N, d.I}), dh0 = new_array({d.N, d.H});
        ArrayPtr dwx = new_array({3 * d.H, d.I}), dwh = new_array({3 * d.H, d.H});
        ArrayPtr dbx = new_array({3 * d.H}), dbh = new_array({3 * d.H});
        gru_sequence_backward(d, dhs.f32(), x.f32(), h0.f32(), w_x.f32(), w_h.f32(), reset_after,
                              reverse, hs.f32(), act.f32(), aux.f32(), dx->f32(), dh0->f32(),
                              dwx->f32(), dwh->f32(), dbx->f32(), dbh->f32());
        return py::make_tuple(dx, dh0, dwx, dwh, dbx, dbh);
      },
      py::arg("dhs"), py::arg("x"), py::arg("h0"), py::arg("w_x"), py::arg("w_h"), py::arg("hs"),
      py::arg("act"), py::arg("aux"), py::kw_only(), py::arg("reset_after") = false,
      py::arg("reverse") = false, "(dx, dh0, dw_x, dw_h, db_x, db_h).");
}

}  // namespace dlk::cuda
