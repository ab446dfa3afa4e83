// Bindings for the GRU step and sequence driver (csrc/cpu/gru.cpp).
#include <pybind11/stl.h>

#include <cstring>

#include "cpu/gru.h"
#include "cpu/rnn_packed.h"
#include "python/cpu_bindings.h"
#include "python/rnn_checks.h"

namespace py = pybind11;

namespace dlk {
namespace {

using namespace py_checks;
using cpu::GruShape;
using cpu::GruVariant;

GruShape gru_shape(const py::array& x, const py::array& h0, const py::array& w_ih,
                   const py::array& w_hh, const std::string& variant, bool reverse,
                   const py::object& batch_sizes = py::none()) {
  require_ndim(h0, 2, "h0");
  GruShape s{0, 0, 0, h0.shape(1), cpu::gru_variant_from_name(variant), reverse};
  if (batch_sizes.is_none()) {
    require_ndim(x, 3, "x");
    s.T = x.shape(0), s.N = x.shape(1), s.I = x.shape(2);
  } else {
    s.batch_sizes = packed_batch_sizes(batch_sizes, x, h0.shape(0));
    s.T = batch_sizes.cast<py::array>().shape(0), s.N = h0.shape(0), s.I = x.shape(1);
  }
  DLK_CHECK(s.H >= 1, "h0: expected a hidden size >= 1, got shape ", shape_str(shape_of(h0)));
  DLK_CHECK(h0.shape(0) == s.N, "h0: expected shape ", shape_str({s.N, s.H}), ", got ",
            shape_str(shape_of(h0)), " (batch taken from x ", shape_str(shape_of(x)), ")");
  require_shape(w_ih, {3 * s.H, s.I}, "w_ih");
  require_shape(w_hh, {3 * s.H, s.H}, "w_hh");
  return s;
}

template <typename T>
py::tuple forward(py::array x, py::array h0, py::array w_ih, py::array w_hh, py::array b,
                  py::object b_hn, const GruShape& s) {
  const bool ra = s.variant == GruVariant::ResetAfter;
  DLK_CHECK(ra == !b_hn.is_none(), "b_hn: the '", ra ? "reset_after" : "notes", "' variant ",
            ra ? "needs the recurrent candidate bias b_hn of shape (H,)" : "takes b_hn=None");
  const T* px = in_ptr<T>(x, seq_dims(s, s.I), "x");
  const T* ph0 = in_ptr<T>(h0, {s.N, s.H}, "h0");
  const T* pwi = in_ptr<T>(w_ih, {3 * s.H, s.I}, "w_ih");
  const T* pwh = in_ptr<T>(w_hh, {3 * s.H, s.H}, "w_hh");
  const T* pb = in_ptr<T>(b, {3 * s.H}, "b");
  const T* pbhn = opt_ptr<T>(b_hn, {s.H}, "b_hn");
  auto y = new_array<T>(seq_dims(s, s.H));
  auto gates = new_array<T>(seq_dims(s, 3 * s.H));
  auto extra = new_array<T>(seq_dims(s, s.H));
  auto hT = new_array<T>({s.N, s.H});
  T *py_ = y.mutable_data(), *pg = gates.mutable_data(), *pe = extra.mutable_data(),
    *phT = hT.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::gru_forward<T>(s, px, ph0, pwi, pwh, pb, pbhn, py_, pg, pe);
    cpu::RnnSteps(s.T, s.N, s.batch_sizes, s.reverse).final_state(py_, ph0, s.H, phT);
  }
  return py::make_tuple(y, hT, py::make_tuple(gates, extra));
}

template <typename T>
py::tuple backward(py::array x, py::array h0, py::array w_ih, py::array w_hh, const GruShape& s,
                   py::object y, py::tuple saved, py::object dy, py::object dh_T) {
  DLK_CHECK(saved.size() == 2, "saved: expected the 2-tuple (gates, extra) that gru_forward ",
            "returned, got ", saved.size(), " items");
  const T* px = in_ptr<T>(x, seq_dims(s, s.I), "x");
  const T* ph0 = in_ptr<T>(h0, {s.N, s.H}, "h0");
  const T* pwi = in_ptr<T>(w_ih, {3 * s.H, s.I}, "w_ih");
  const T* pwh = in_ptr<T>(w_hh, {3 * s.H, s.H}, "w_hh");
  const T* py_ = opt_ptr<T>(y, seq_dims(s, s.H), "y");
  DLK_CHECK(py_ || s.T <= 1, "y: the outputs of gru_forward are needed when T > 1");
  py::array saved0 = saved[0].cast<py::array>();
  const T* pg = in_ptr<T>(saved0, seq_dims(s, 3 * s.H), "saved[0] (gates)");
  py::array saved1 = saved[1].cast<py::array>();
  const T* pe = in_ptr<T>(saved1, seq_dims(s, s.H), "saved[1] (extra)");
  const T* pdy = opt_ptr<T>(dy, seq_dims(s, s.H), "dy");
  const T* pdh = opt_ptr<T>(dh_T, {s.N, s.H}, "dh_T");
  auto dx = new_array<T>(seq_dims(s, s.I));
  auto dh0 = new_array<T>({s.N, s.H});
  auto dwi = new_array<T>({3 * s.H, s.I});
  auto dwh = new_array<T>({3 * s.H, s.H});
  auto db = new_array<T>({3 * s.H});
  py::object dbhn = py::none();
  T* pdbhn = nullptr;
  if (s.variant == GruVariant::ResetAfter) {
    auto arr = new_array<T>({s.H});
    pdbhn = arr.mutable_data();
    dbhn = arr;
  }
  T *pdx = dx.mutable_data(), *pdh0 = dh0.mutable_data(), *pdwi = dwi.mutable_data(),
    *pdwh = dwh.mutable_data(), *pdb = db.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::gru_backward<T>(s, px, ph0, pwi, pwh, py_, pg, pe, pdy, pdh, pdx, pdh0, pdwi, pdwh, pdb,
                         pdbhn);
  }
  return py::make_tuple(dx, dh0, dwi, dwh, db, dbhn);
}

py::array add_time_axis(const py::array& a, const char* name) {
  require_ndim(a, 2, name);
  return a.attr("reshape")(1, a.shape(0), a.shape(1)).cast<py::array>();
}

}  // namespace

void bind_gru(py::module_& m) {
  m.def(
      "gru_forward",
      [](py::array x, py::array h0, py::array w_ih, py::array w_hh, py::array b, py::object b_hn,
         const std::string& variant, bool reverse, py::object batch_sizes) {
        const GruShape s = gru_shape(x, h0, w_ih, w_hh, variant, reverse, batch_sizes);
        return is_float64(x, "x") ? forward<double>(x, h0, w_ih, w_hh, b, b_hn, s)
                                  : forward<float>(x, h0, w_ih, w_hh, b, b_hn, s);
      },
      py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b"),
      py::arg("b_hn") = py::none(), py::arg("variant") = "notes", py::arg("reverse") = false,
      py::arg("batch_sizes") = py::none(),
      "GRU over x[T, N, I] -> (y[T, N, H], h_T, saved). Gate order r, z, n; w_ih[3H, I],\n"
      "w_hh[3H, H], b[3H]; variant 'notes' (h' = (1-z) h + z n, n from W_n[r h, x]) or\n"
      "'reset_after' (torch.nn.GRU: h' = (1-z) n + z h, b_hn[H] required). batch_sizes:\n"
      "packed sequences x[R, I] as lstm_forward.");
  m.def(
      "gru_backward",
      [](py::array x, py::array h0, py::array w_ih, py::array w_hh, const std::string& variant,
         bool reverse, py::object y, py::tuple saved, py::object dy, py::object dh_T,
         py::object batch_sizes) {
        const GruShape s = gru_shape(x, h0, w_ih, w_hh, variant, reverse, batch_sizes);
        return is_float64(x, "x") ? backward<double>(x, h0, w_ih, w_hh, s, y, saved, dy, dh_T)
                                  : backward<float>(x, h0, w_ih, w_hh, s, y, saved, dy, dh_T);
      },
      py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("variant"),
      py::arg("reverse"), py::arg("y"), py::arg("saved"), py::arg("dy"),
      py::arg("dh_T") = py::none(), py::arg("batch_sizes") = py::none(),
      "Backward through time -> (dx, dh0, dw_ih, dw_hh, db, db_hn or None); dy, dh_T may be None.");
  m.def(
      "gru_cell_forward",
      [](py::array x, py::array h, py::array w_ih, py::array w_hh, py::array b, py::object b_hn,
         const std::string& variant) {
        py::array x3 = add_time_axis(x, "x");
        const GruShape s = gru_shape(x3, h, w_ih, w_hh, variant, false);
        py::tuple r = is_float64(x, "x") ? forward<double>(x3, h, w_ih, w_hh, b, b_hn, s)
                                         : forward<float>(x3, h, w_ih, w_hh, b, b_hn, s);
        py::tuple saved = r[2];
        return py::make_tuple(r[1], py::make_tuple(saved[0].attr("reshape")(s.N, 3 * s.H),
                                                   saved[1].attr("reshape")(s.N, s.H)));
      },
      py::arg("x"), py::arg("h"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b"),
      py::arg("b_hn") = py::none(), py::arg("variant") = "notes",
      "One GRU step -> (h_new, saved=(gates[N, 3H], extra[N, H])).");
  m.def(
      "gru_cell_backward",
      [](py::array x, py::array h, py::array w_ih, py::array w_hh, const std::string& variant,
         py::tuple saved, py::object dh_new) {
        py::array x3 = add_time_axis(x, "x");
        const GruShape s = gru_shape(x3, h, w_ih, w_hh, variant, false);
        DLK_CHECK(saved.size() == 2, "saved: expected the 2-tuple (gates, extra) that ",
                  "gru_cell_forward returned, got ", saved.size(), " items");
        py::tuple saved3 = py::make_tuple(add_time_axis(saved[0].cast<py::array>(), "saved[0]"),
                                          add_time_axis(saved[1].cast<py::array>(), "saved[1]"));
        py::tuple r =
            is_float64(x, "x")
                ? backward<double>(x3, h, w_ih, w_hh, s, py::none(), saved3, py::none(), dh_new)
                : backward<float>(x3, h, w_ih, w_hh, s, py::none(), saved3, py::none(), dh_new);
        return py::make_tuple(r[0].attr("reshape")(s.N, s.I), r[1], r[2], r[3], r[4], r[5]);
      },
      py::arg("x"), py::arg("h"), py::arg("w_ih"), py::arg("w_hh"), py::arg("variant"),
      py::arg("saved"), py::arg("dh_new"),
      "Backward of one step -> (dx, dh, dw_ih, dw_hh, db, db_hn or None).");
}

}  // namespace dlk
