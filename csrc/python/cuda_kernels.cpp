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

// (ph, pw) pads both sides alike; (top, bottom, left, right) each side.
Quad padding4(const std::vector<int64_t>& p) {
  if (p.size() == 2) return Quad{p[0], p[0], p[1], p[1]};
  DLK_CHECK(p.size() == 4, "padding: expected (ph, pw) or (top, bottom, left, right), got ",
            shape_str(p));
  return Quad{p[0], p[1], p[2], p[3]};
}

std::vector<int64_t> nchw(const std::vector<int64_t>& gy_shape, int64_t C, const Pair& hw) {
  DLK_CHECK(gy_shape.size() == 4, "gy: expected a 4-D NCHW array, got shape ", shape_str(gy_shape));
  return {gy_shape[0], C, hw[0], hw[1]};
}

// ---- pooling --------------------------------------------------------------------------------
PoolGeom pool_geom(const std::vector<int64_t>& xshape, Pair kernel, std::optional<Pair> stride,
                   const std::vector<int64_t>& padding) {
  const Quad pad = padding4(padding);
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
                   const std::vector<int64_t>& padding, Pair dil, int64_t groups) {
  const Quad pad = padding4(padding);
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
            "stride and dilation: expected positive values, got ", shape_str({g.SH, g.SW}), " and ",
            shape_str({g.DH, g.DW}));
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
// The CPU kernels' interface (csrc/python/README.md): variant strings, w_ih / w_hh, saved tuples.
struct LstmVariant {
  bool peephole = false, coupled = false;
};

LstmVariant parse_lstm_variant(const std::string& v) {
  if (v == "standard") return {};
  if (v == "peephole") return {true, false};
  if (v == "coupled") return {false, true};
  fail("variant: expected 'standard', 'peephole' or 'coupled', got '", v, "'");
}

bool parse_gru_variant(const std::string& v) {  // true for reset_after
  if (v == "notes") return false;
  if (v == "reset_after") return true;
  fail("variant: expected 'notes' or 'reset_after', got '", v, "'");
}

RnnDims dims_of(const DeviceArray& x, const DeviceArray& h0) {
  require_array(x, "x", DType::float32, {-1, -1, -1});
  require_array(h0, "h0", DType::float32, {x.shape[1], -1});
  return RnnDims{x.shape[0], x.shape[1], x.shape[2], h0.shape[1]};
}

void check_lstm(const RnnDims& d, const DeviceArray& c0, const DeviceArray& w_ih,
                const DeviceArray& w_hh, const OptArr& b, const OptArr& peep, LstmVariant v) {
  const int64_t G = (v.coupled ? 3 : 4) * d.H;
  require_array(c0, "c0", DType::float32, {d.N, d.H});
  require_array(w_ih, "w_ih", DType::float32, {G, d.I});
  require_array(w_hh, "w_hh", DType::float32, {G, d.H});
  if (b && *b) require_array(**b, "b", DType::float32, {G});
  if (v.peephole) {
    DLK_CHECK(peep && *peep, "peephole: variant 'peephole' needs the (3, H) peephole weights");
    require_array(**peep, "peephole", DType::float32, {3, d.H});
  }
}

void check_gru(const RnnDims& d, const DeviceArray& w_ih, const DeviceArray& w_hh, const OptArr& b,
               const OptArr& b_hn) {
  require_array(w_ih, "w_ih", DType::float32, {3 * d.H, d.I});
  require_array(w_hh, "w_hh", DType::float32, {3 * d.H, d.H});
  if (b && *b) require_array(**b, "b", DType::float32, {3 * d.H});
  if (b_hn && *b_hn) require_array(**b_hn, "b_hn", DType::float32, {d.H});
}

// The (T, N, ...) array `seq`'s slice at time t, as a view.
ArrayPtr step_view(const ArrayPtr& seq, int64_t t) {
  const int64_t step = seq->size() / seq->shape[0];
  return std::make_shared<DeviceArray>(
      seq->storage, seq->offset_bytes + size_t(t * step) * 4,
      std::vector<int64_t>(seq->shape.begin() + 1, seq->shape.end()), seq->dtype);
}

ArrayPtr as_seq(const DeviceArray& a) {  // (N, K) -> (1, N, K) view
  std::vector<int64_t> s = a.shape;
  s.insert(s.begin(), 1);
  return std::make_shared<DeviceArray>(a.storage, a.offset_bytes, s, a.dtype);
}

py::tuple lstm_fwd_py(const DeviceArray& x, const DeviceArray& h0, const DeviceArray& c0,
                      const DeviceArray& w_ih, const DeviceArray& w_hh, const OptArr& b,
                      const OptArr& peep, const std::string& variant, bool reverse) {
  require_device();
  const LstmVariant v = parse_lstm_variant(variant);
  const RnnDims d = dims_of(x, h0);
  check_lstm(d, c0, w_ih, w_hh, b, peep, v);
  const int64_t G = (v.coupled ? 3 : 4) * d.H;
  ArrayPtr y = new_array({d.T, d.N, d.H}), cs = new_array({d.T, d.N, d.H});
  ArrayPtr act = new_array({d.T, d.N, G});
  lstm_sequence_forward(d, x.f32(), h0.f32(), c0.f32(), w_ih.f32(), w_hh.f32(), opt_ptr(b),
                        v.peephole ? opt_ptr(peep) : nullptr, v.coupled, reverse, y->f32(),
                        cs->f32(), act->f32());
  ArrayPtr hT = new_array({d.N, d.H}), cT = new_array({d.N, d.H});
  if (d.T > 0) {
    const int64_t last = reverse ? 0 : d.T - 1;
    copy_bytes(hT->data(), step_view(y, last)->data(), hT->nbytes());
    copy_bytes(cT->data(), step_view(cs, last)->data(), cT->nbytes());
  } else {
    copy_bytes(hT->data(), h0.data(), hT->nbytes());
    copy_bytes(cT->data(), c0.data(), cT->nbytes());
  }
  return py::make_tuple(y, hT, cT, py::make_tuple(act, cs));
}

py::tuple lstm_bwd_py(const DeviceArray& x, const DeviceArray& h0, const DeviceArray& c0,
                      const DeviceArray& w_ih, const DeviceArray& w_hh, const OptArr& peep,
                      const std::string& variant, bool reverse, const DeviceArray& y,
                      py::tuple saved, const OptArr& dy, const OptArr& dh_T, const OptArr& dc_T) {
  require_device();
  const LstmVariant v = parse_lstm_variant(variant);
  const RnnDims d = dims_of(x, h0);
  check_lstm(d, c0, w_ih, w_hh, std::nullopt, peep, v);
  const int64_t G = (v.coupled ? 3 : 4) * d.H;
  DLK_CHECK(saved.size() == 2, "saved: expected the (gates, cell) pair lstm_forward returned");
  ArrayPtr act = saved[0].cast<ArrayPtr>(), cs = saved[1].cast<ArrayPtr>();
  require_array(y, "y", DType::float32, {d.T, d.N, d.H});
  require_array(*act, "saved[0]", DType::float32, {d.T, d.N, G});
  require_array(*cs, "saved[1]", DType::float32, {d.T, d.N, d.H});
  if (dy && *dy) require_array(**dy, "dy", DType::float32, {d.T, d.N, d.H});
  if (dh_T && *dh_T) require_array(**dh_T, "dh_T", DType::float32, {d.N, d.H});
  if (dc_T && *dc_T) require_array(**dc_T, "dc_T", DType::float32, {d.N, d.H});
  ArrayPtr zeros;
  const float* dys = opt_ptr(dy);
  if (!dys) {
    zeros = new_array({d.T, d.N, d.H});
    fill_f32(zeros->f32(), zeros->size(), 0.f);
    dys = zeros->f32();
  }
  ArrayPtr dx = new_array({d.T, d.N, d.I}), dh0 = new_array({d.N, d.H});
  ArrayPtr dc0 = new_array({d.N, d.H}), dwi = new_array({G, d.I});
  ArrayPtr dwh = new_array({G, d.H}), db = new_array({G});
  ArrayPtr dp = v.peephole ? new_array({3, d.H}) : nullptr;
  lstm_sequence_backward(d, dys, opt_ptr(dh_T), opt_ptr(dc_T), x.f32(), h0.f32(), c0.f32(),
                         w_ih.f32(), w_hh.f32(), v.peephole ? opt_ptr(peep) : nullptr, v.coupled,
                         reverse, y.f32(), cs->f32(), act->f32(), dx->f32(), dh0->f32(), dc0->f32(),
                         dwi->f32(), dwh->f32(), db->f32(), dp ? dp->f32() : nullptr);
  return py::make_tuple(dx, dh0, dc0, dwi, dwh, db, dp ? py::cast(dp) : py::none());
}

py::tuple gru_fwd_py(const DeviceArray& x, const DeviceArray& h0, const DeviceArray& w_ih,
                     const DeviceArray& w_hh, const OptArr& b, const OptArr& b_hn,
                     const std::string& variant, bool reverse) {
  require_device();
  const bool ra = parse_gru_variant(variant);
  const RnnDims d = dims_of(x, h0);
  check_gru(d, w_ih, w_hh, b, b_hn);
  ArrayPtr y = new_array({d.T, d.N, d.H}), act = new_array({d.T, d.N, 3 * d.H});
  ArrayPtr aux = new_array({d.T, d.N, d.H});
  gru_sequence_forward(d, x.f32(), h0.f32(), w_ih.f32(), w_hh.f32(), opt_ptr(b),
                       ra ? opt_ptr(b_hn) : nullptr, ra, reverse, y->f32(), act->f32(), aux->f32());
  ArrayPtr hT = new_array({d.N, d.H});
  if (d.T > 0)
    copy_bytes(hT->data(), step_view(y, reverse ? 0 : d.T - 1)->data(), hT->nbytes());
  else
    copy_bytes(hT->data(), h0.data(), hT->nbytes());
  return py::make_tuple(y, hT, py::make_tuple(act, aux));
}

py::tuple gru_bwd_py(const DeviceArray& x, const DeviceArray& h0, const DeviceArray& w_ih,
                     const DeviceArray& w_hh, const std::string& variant, bool reverse,
                     const DeviceArray& y, py::tuple saved, const OptArr& dy, const OptArr& dh_T) {
  require_device();
  const bool ra = parse_gru_variant(variant);
  const RnnDims d = dims_of(x, h0);
  check_gru(d, w_ih, w_hh, std::nullopt, std::nullopt);
  DLK_CHECK(saved.size() == 2, "saved: expected the (gates, extra) pair gru_forward returned");
  ArrayPtr act = saved[0].cast<ArrayPtr>(), aux = saved[1].cast<ArrayPtr>();
  require_array(y, "y", DType::float32, {d.T, d.N, d.H});
  require_array(*act, "saved[0]", DType::float32, {d.T, d.N, 3 * d.H});
  require_array(*aux, "saved[1]", DType::float32, {d.T, d.N, d.H});
  if (dy && *dy) require_array(**dy, "dy", DType::float32, {d.T, d.N, d.H});
  if (dh_T && *dh_T) require_array(**dh_T, "dh_T", DType::float32, {d.N, d.H});
  ArrayPtr zeros;
  const float* dys = opt_ptr(dy);
  if (!dys) {
    zeros = new_array({d.T, d.N, d.H});
    fill_f32(zeros->f32(), zeros->size(), 0.f);
    dys = zeros->f32();
  }
  ArrayPtr dx = new_array({d.T, d.N, d.I}), dh0 = new_array({d.N, d.H});
  ArrayPtr dwi = new_array({3 * d.H, d.I}), dwh = new_array({3 * d.H, d.H});
  ArrayPtr db = new_array({3 * d.H});
  ArrayPtr dbhn = ra ? new_array({d.H}) : nullptr;
  gru_sequence_backward(d, dys, opt_ptr(dh_T), x.f32(), h0.f32(), w_ih.f32(), w_hh.f32(), ra,
                        reverse, y.f32(), act->f32(), aux->f32(), dx->f32(), dh0->f32(), dwi->f32(),
                        dwh->f32(), db->f32(), dbhn ? dbhn->f32() : nullptr);
  return py::make_tuple(dx, dh0, dwi, dwh, db, dbhn ? py::cast(dbhn) : py::none());
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

  // pooling (the CPU functions' interface; padding may also be 4 per-side values)
  using Pad = std::vector<int64_t>;
  m.def(
      "max_pool2d_forward",
      [](const DeviceArray& x, Pair kernel, std::optional<Pair> stride, Pad padding) {
        require_device();
        require_array(x, "x", DType::float32, {-1, -1, -1, -1});
        const PoolGeom g = pool_geom(x.shape, kernel, stride, padding);
        ArrayPtr y = new_array({g.N, g.C, g.OH, g.OW});
        ArrayPtr arg = new_array({g.N, g.C, g.OH, g.OW}, DType::int64);
        max_pool2d_forward(g, x.f32(), y->f32(), arg->i64());
        return py::make_tuple(y, arg);
      },
      py::arg("x"), py::arg("kernel"), py::arg("stride") = py::none(),
      py::arg("padding") = Pad{0, 0},
      "(y, argmax): stride defaults to the kernel; argmax is h*W + w in the (n, c) plane of the\n"
      "first maximum, -1 for a window wholly in padding.");
  m.def(
      "max_pool2d_backward",
      [](const DeviceArray& gy, const DeviceArray& argmax, Pair input_hw,
         std::optional<Pair> kernel, std::optional<Pair> stride, Pad padding) {
        require_device();
        require_array(gy, "gy", DType::float32, {-1, -1, -1, -1});
        require_array(argmax, "argmax", DType::int64, gy.shape);
        const std::vector<int64_t> xs = nchw(gy.shape, gy.shape[1], input_hw);
        DLK_CHECK(input_hw[0] > 0 && input_hw[1] > 0, "input_hw: expected positive sizes, got ",
                  shape_str({input_hw[0], input_hw[1]}));
        ArrayPtr gx = new_array(xs);
        if (kernel) {  // the geometry is known: deterministic gather
          const PoolGeom g = pool_geom(xs, *kernel, stride, padding);
          require_array(gy, "gy", DType::float32, {g.N, g.C, g.OH, g.OW});
          max_pool2d_backward(g, gy.f32(), argmax.i64(), gx->f32());
        } else {
          const int64_t HW = input_hw[0] * input_hw[1];
          const bool ok =
              max_pool2d_backward_scatter(gy.shape[0] * gy.shape[1], HW, gy.shape[2] * gy.shape[3],
                                          gy.f32(), argmax.i64(), gx->f32());
          DLK_CHECK(ok, "argmax: expected indices in [0, ", HW, ") (or -1), got one outside");
        }
        return gx;
      },
      py::arg("gy"), py::arg("argmax"), py::arg("input_hw"), py::arg("kernel") = py::none(),
      py::arg("stride") = py::none(), py::arg("padding") = Pad{0, 0},
      "gx (N, C, H, W): gy scattered to argmax. With kernel (and stride, padding) given, a\n"
      "deterministic gather; without, a scatter-add that checks every index (waits for the GPU).");
  m.def(
      "avg_pool2d_forward",
      [](const DeviceArray& x, Pair kernel, std::optional<Pair> stride, Pad padding,
         bool count_include_pad) {
        require_device();
        require_array(x, "x", DType::float32, {-1, -1, -1, -1});
        const PoolGeom g = pool_geom(x.shape, kernel, stride, padding);
        ArrayPtr y = new_array({g.N, g.C, g.OH, g.OW});
        avg_pool2d_forward(g, x.f32(), y->f32(), count_include_pad);
        return y;
      },
      py::arg("x"), py::arg("kernel"), py::arg("stride") = py::none(),
      py::arg("padding") = Pad{0, 0}, py::arg("count_include_pad") = true);
  m.def(
      "avg_pool2d_backward",
      [](const DeviceArray& gy, Pair input_hw, Pair kernel, std::optional<Pair> stride, Pad padding,
         bool count_include_pad) {
        require_device();
        require_array(gy, "gy", DType::float32, {-1, -1, -1, -1});
        const std::vector<int64_t> xs = nchw(gy.shape, gy.shape[1], input_hw);
        const PoolGeom g = pool_geom(xs, kernel, stride, padding);
        require_array(gy, "gy", DType::float32, {g.N, g.C, g.OH, g.OW});
        ArrayPtr gx = new_array(xs);
        avg_pool2d_backward(g, gy.f32(), gx->f32(), count_include_pad);
        return gx;
      },
      py::arg("gy"), py::arg("input_hw"), py::arg("kernel"), py::arg("stride") = py::none(),
      py::arg("padding") = Pad{0, 0}, py::arg("count_include_pad") = true);

  // convolution (the CPU functions' interface)
  m.def(
      "conv2d_forward",
      [](const DeviceArray& x, const DeviceArray& w, OptArr b, Pair stride, Pad padding,
         Pair dilation, int64_t groups) {
        require_device();
        require_array(x, "x", DType::float32, {-1, -1, -1, -1});
        require_array(w, "w", DType::float32, {-1, -1, -1, -1});
        const ConvGeom g = conv_geom(x.shape, w.shape, stride, padding, dilation, groups);
        if (b && *b) require_array(**b, "bias", DType::float32, {g.K});
        ArrayPtr y = new_array({g.N, g.K, g.OH, g.OW});
        conv2d_forward(g, x.f32(), w.f32(), opt_ptr(b), y->f32());
        return y;
      },
      py::arg("x"), py::arg("w"), py::arg("bias") = py::none(), py::arg("stride") = Pair{1, 1},
      py::arg("padding") = Pad{0, 0, 0, 0}, py::arg("dilation") = Pair{1, 1}, py::arg("groups") = 1,
      "y (N, O, OH, OW) = conv2d(x (N, C, H, W), w (O, C/groups, KH, KW)) + bias.");
  m.def(
      "conv2d_backward_input",
      [](const DeviceArray& gy, const DeviceArray& w, Pair input_hw, Pair stride, Pad padding,
         Pair dilation, int64_t groups) {
        require_device();
        require_array(w, "w", DType::float32, {-1, -1, -1, -1});
        require_array(gy, "gy", DType::float32, {-1, w.shape[0], -1, -1});
        const std::vector<int64_t> xs = nchw(gy.shape, w.shape[1] * groups, input_hw);
        const ConvGeom g = conv_geom(xs, w.shape, stride, padding, dilation, groups);
        require_array(gy, "gy", DType::float32, {g.N, g.K, g.OH, g.OW});
        ArrayPtr gx = new_array(xs);
        conv2d_backward_input(g, gy.f32(), w.f32(), gx->f32());
        return gx;
      },
      py::arg("gy"), py::arg("w"), py::arg("input_hw"), py::arg("stride") = Pair{1, 1},
      py::arg("padding") = Pad{0, 0, 0, 0}, py::arg("dilation") = Pair{1, 1},
      py::arg("groups") = 1);
  m.def(
      "conv2d_backward_weight",
      [](const DeviceArray& gy, const DeviceArray& x, Pair kernel_hw, Pair stride, Pad padding,
         Pair dilation, int64_t groups) {
        require_device();
        require_array(x, "x", DType::float32, {-1, -1, -1, -1});
        require_array(gy, "gy", DType::float32, {x.shape[0], -1, -1, -1});
        DLK_CHECK(groups >= 1 && x.shape[1] % groups == 0, "groups: ", groups,
                  " must divide the input channels ", x.shape[1]);
        const std::vector<int64_t> ws = {gy.shape[1], x.shape[1] / groups, kernel_hw[0],
                                         kernel_hw[1]};
        const ConvGeom g = conv_geom(x.shape, ws, stride, padding, dilation, groups);
        require_array(gy, "gy", DType::float32, {g.N, g.K, g.OH, g.OW});
        ArrayPtr gw = new_array(ws);
        conv2d_backward_weight(g, x.f32(), gy.f32(), gw->f32());
        return gw;
      },
      py::arg("gy"), py::arg("x"), py::arg("kernel_hw"), py::arg("stride") = Pair{1, 1},
      py::arg("padding") = Pad{0, 0, 0, 0}, py::arg("dilation") = Pair{1, 1},
      py::arg("groups") = 1);
  m.def(
      "conv2d_backward_bias",
      [](const DeviceArray& gy) {
        require_device();
        require_array(gy, "gy", DType::float32, {-1, -1, -1, -1});
        ConvGeom g{};
        g.N = gy.shape[0], g.K = gy.shape[1], g.OH = gy.shape[2], g.OW = gy.shape[3];
        ArrayPtr gb = new_array({g.K});
        conv2d_backward_bias(g, gy.f32(), gb->f32());
        return gb;
      },
      py::arg("gy"), "gb (O,) = gy summed over (n, oh, ow).");

  // LSTM
  m.def(
      "lstm_pointwise_forward",
      [](const DeviceArray& gates, const DeviceArray& c_prev, OptArr bias, OptArr peep,
         bool coupled) {
        require_device();
        require_array(c_prev, "c_prev", DType::float32, {-1, -1});
        const int64_t N = c_prev.shape[0], H = c_prev.shape[1], G = (coupled ? 3 : 4) * H;
        require_array(gates, "gates", DType::float32, {N, G});
        if (bias && *bias) require_array(**bias, "bias", DType::float32, {G});
        if (peep && *peep) require_array(**peep, "peephole", DType::float32, {3, H});
        ArrayPtr h = new_array({N, H}), c = new_array({N, H}), act = new_array({N, G});
        lstm_pointwise_forward(gates.f32(), opt_ptr(bias), c_prev.f32(), opt_ptr(peep), coupled, N,
                               H, h->f32(), c->f32(), act->f32());
        return py::make_tuple(h, c, act);
      },
      py::arg("gates"), py::arg("c_prev"), py::arg("bias") = py::none(),
      py::arg("peephole") = py::none(), py::kw_only(), py::arg("coupled") = false,
      "(h, c, act) from gate pre-activations (N, 4H) in order i, f, g, o ((N, 3H): f, g, o when\n"
      "coupled); act = the activated gates in the same layout.");
  m.def(
      "lstm_pointwise_backward",
      [](OptArr dh, OptArr dc, const DeviceArray& c_prev, const DeviceArray& c,
         const DeviceArray& act, OptArr peep, bool coupled) {
        require_device();
        require_array(c_prev, "c_prev", DType::float32, {-1, -1});
        const int64_t N = c_prev.shape[0], H = c_prev.shape[1], G = (coupled ? 3 : 4) * H;
        const int64_t off_f = coupled ? 0 : H, off_o = off_f + 2 * H;
        require_array(c, "c", DType::float32, {N, H});
        require_array(act, "act", DType::float32, {N, G});
        if (dh && *dh) require_array(**dh, "dh", DType::float32, {N, H});
        if (dc && *dc) require_array(**dc, "dc", DType::float32, {N, H});
        if (peep && *peep) require_array(**peep, "peephole", DType::float32, {3, H});
        ArrayPtr dg = new_array({N, G}), dcp = new_array({N, H});
        lstm_pointwise_backward(opt_ptr(dh), nullptr, opt_ptr(dc), c_prev.f32(), c.f32(), act.f32(),
                                opt_ptr(peep), coupled, N, H, dg->f32(), dcp->f32());
        py::object dpeep = py::none();
        if (peep && *peep) {
          ArrayPtr dp = new_array({3, H});
          if (coupled)
            fill_f32(dp->f32(), H, 0.f);
          else
            column_sum(dg->f32(), G, c_prev.f32(), H, N, H, dp->f32(), false);
          column_sum(dg->f32() + off_f, G, c_prev.f32(), H, N, H, dp->f32() + H, false);
          column_sum(dg->f32() + off_o, G, c.f32(), H, N, H, dp->f32() + 2 * H, false);
          dpeep = py::cast(dp);
        }
        return py::make_tuple(dg, dcp, dpeep);
      },
      py::arg("dh"), py::arg("dc"), py::arg("c_prev"), py::arg("c"), py::arg("act"),
      py::arg("peephole") = py::none(), py::kw_only(), py::arg("coupled") = false,
      "(dgates, dc_prev, dpeephole or None); dh and dc may be None (zero).");
  m.def(
      "lstm_forward", &lstm_fwd_py, py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"),
      py::arg("w_hh"), py::arg("b"), py::arg("peephole") = py::none(),
      py::arg("variant") = "standard", py::arg("reverse") = false,
      "(y, h_T, c_T, saved) over x (T, N, I); w_ih (G*H, I), w_hh (G*H, H), b (G*H,), G = 4\n"
      "(3 for 'coupled': gates f, g, o); peephole (3, H). saved = (gates, cell) for the backward.");
  m.def("lstm_backward", &lstm_bwd_py, py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"),
        py::arg("w_hh"), py::arg("peephole"), py::arg("variant"), py::arg("reverse"), py::arg("y"),
        py::arg("saved"), py::arg("dy"), py::arg("dh_T") = py::none(), py::arg("dc_T") = py::none(),
        "(dx, dh0, dc0, dw_ih, dw_hh, db, dpeephole or None); dy, dh_T, dc_T may be None.");
  m.def(
      "lstm_cell_forward",
      [](const DeviceArray& x, const DeviceArray& h, const DeviceArray& c, const DeviceArray& w_ih,
         const DeviceArray& w_hh, const OptArr& b, const OptArr& peep, const std::string& variant) {
        py::tuple r = lstm_fwd_py(*as_seq(x), h, c, w_ih, w_hh, b, peep, variant, false);
        py::tuple saved = r[3].cast<py::tuple>();
        return py::make_tuple(r[1], r[2],
                              py::make_tuple(step_view(saved[0].cast<ArrayPtr>(), 0), r[2]));
      },
      py::arg("x"), py::arg("h"), py::arg("c"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b"),
      py::arg("peephole") = py::none(), py::arg("variant") = "standard",
      "(h_new, c_new, saved): one step, x (N, I); saved = (gates (N, G*H), c_new).");
  m.def(
      "lstm_cell_backward",
      [](const DeviceArray& x, const DeviceArray& h, const DeviceArray& c, const DeviceArray& w_ih,
         const DeviceArray& w_hh, const OptArr& peep, const std::string& variant,
         const DeviceArray& c_new, py::tuple saved, const OptArr& dh_new, const OptArr& dc_new) {
        DLK_CHECK(saved.size() == 2, "saved: expected the pair lstm_cell_forward returned");
        ArrayPtr act = saved[0].cast<ArrayPtr>();
        ArrayPtr cs = as_seq(c_new);
        // T = 1: y is never read (the previous state is h), so the cell state stands in for it.
        py::tuple r = lstm_bwd_py(*as_seq(x), h, c, w_ih, w_hh, peep, variant, false, *cs,
                                  py::make_tuple(as_seq(*act), cs),
                                  dh_new && *dh_new ? OptArr(as_seq(**dh_new)) : OptArr(),
                                  std::nullopt, dc_new);
        return py::make_tuple(step_view(r[0].cast<ArrayPtr>(), 0), r[1], r[2], r[3], r[4], r[5],
                              r[6]);
      },
      py::arg("x"), py::arg("h"), py::arg("c"), py::arg("w_ih"), py::arg("w_hh"),
      py::arg("peephole"), py::arg("variant"), py::arg("c_new"), py::arg("saved"),
      py::arg("dh_new"), py::arg("dc_new") = py::none(),
      "(dx, dh, dc, dw_ih, dw_hh, db, dpeephole or None): backward of one step.");
  m.def("gru_forward", &gru_fwd_py, py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"),
        py::arg("b"), py::arg("b_hn") = py::none(), py::arg("variant") = "notes",
        py::arg("reverse") = false,
        "(y, h_T, saved) over x (T, N, I); gate order r, z, n; w_ih (3H, I), w_hh (3H, H),\n"
        "b (3H,), b_hn (H,) for 'reset_after'. saved = (gates, extra), extra = r*h_prev (notes)\n"
        "or W_hn h_prev + b_hn (reset_after).");
  m.def("gru_backward", &gru_bwd_py, py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"),
        py::arg("variant"), py::arg("reverse"), py::arg("y"), py::arg("saved"), py::arg("dy"),
        py::arg("dh_T") = py::none(),
        "(dx, dh0, dw_ih, dw_hh, db, db_hn or None); db_hn is None for 'notes'.");
  m.def(
      "gru_cell_forward",
      [](const DeviceArray& x, const DeviceArray& h, const DeviceArray& w_ih,
         const DeviceArray& w_hh, const OptArr& b, const OptArr& b_hn, const std::string& variant) {
        py::tuple r = gru_fwd_py(*as_seq(x), h, w_ih, w_hh, b, b_hn, variant, false);
        py::tuple saved = r[2].cast<py::tuple>();
        return py::make_tuple(r[1], py::make_tuple(step_view(saved[0].cast<ArrayPtr>(), 0),
                                                   step_view(saved[1].cast<ArrayPtr>(), 0)));
      },
      py::arg("x"), py::arg("h"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b"),
      py::arg("b_hn") = py::none(), py::arg("variant") = "notes",
      "(h_new, saved): one step; saved = (gates (N, 3H), extra (N, H)).");
  m.def(
      "gru_cell_backward",
      [](const DeviceArray& x, const DeviceArray& h, const DeviceArray& w_ih,
         const DeviceArray& w_hh, const std::string& variant, py::tuple saved,
         const DeviceArray& dh_new) {
        DLK_CHECK(saved.size() == 2, "saved: expected the pair gru_cell_forward returned");
        ArrayPtr act = saved[0].cast<ArrayPtr>(), aux = saved[1].cast<ArrayPtr>();
        ArrayPtr dy = as_seq(dh_new);
        // T = 1: y is never read (the previous state is h); dh_new stands in for it.
        py::tuple r =
            gru_bwd_py(*as_seq(x), h, w_ih, w_hh, variant, false, *dy,
                       py::make_tuple(as_seq(*act), as_seq(*aux)), OptArr(dy), std::nullopt);
        return py::make_tuple(step_view(r[0].cast<ArrayPtr>(), 0), r[1], r[2], r[3], r[4], r[5]);
      },
      py::arg("x"), py::arg("h"), py::arg("w_ih"), py::arg("w_hh"), py::arg("variant"),
      py::arg("saved"), py::arg("dh_new"), "(dx, dh, dw_ih, dw_hh, db, db_hn or None).");
}

}  // namespace dlk::cuda
