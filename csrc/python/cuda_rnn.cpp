// Bindings of the CUDA LSTM and GRU (csrc/cuda/lstm.cu, gru.cu), which share the sequence helpers.
// Arguments are DeviceArrays (float32; int64 for targets and argmax); every shape and dtype is
// checked here and a mismatch raises ValueError naming what was expected and what came. Results are
// new DeviceArrays.
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <optional>

#include "cuda/kernels.h"
#include "python/cuda_bindings.h"

namespace dlk::cuda {
namespace {

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

void bind_rnn(py::module_& m) {
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
