// Bindings for the LSTM step and sequence driver (csrc/cpu/lstm.cpp).
#include <pybind11/stl.h>

#include <cstring>

#include "cpu/lstm.h"
#include "cpu/rnn_gemm.h"
#include "cpu/rnn_packed.h"
#include "python/cpu_bindings.h"
#include "python/rnn_checks.h"

namespace py = pybind11;

namespace dlk {
namespace {

using namespace py_checks;
using cpu::LstmShape;
using cpu::LstmVariant;

struct Args {
  LstmShape s;
  int64_t G;
};

// Sizes from x[T, N, I] and h0[N, H]; checks the weights and the peephole against them.
Args lstm_shape(const py::array& x, const py::array& h0, const py::array& w_ih,
                const py::array& w_hh, const py::object& peephole, const std::string& variant,
                bool reverse, const py::object& batch_sizes = py::none()) {
  require_ndim(h0, 2, "h0");
  const LstmVariant v = cpu::lstm_variant_from_name(variant);
  Args a{{0, 0, 0, h0.shape(1), v, reverse}, cpu::lstm_num_gates(v)};
  if (batch_sizes.is_none()) {
    require_ndim(x, 3, "x");
    a.s.T = x.shape(0), a.s.N = x.shape(1), a.s.I = x.shape(2);
  } else {
    a.s.batch_sizes = packed_batch_sizes(batch_sizes, x, h0.shape(0));
    a.s.T = batch_sizes.cast<py::array>().shape(0), a.s.N = h0.shape(0), a.s.I = x.shape(1);
  }
  DLK_CHECK(a.s.H >= 1, "h0: expected a hidden size >= 1, got shape ", shape_str(shape_of(h0)));
  DLK_CHECK(h0.shape(0) == a.s.N, "h0: expected shape ", shape_str({a.s.N, a.s.H}), ", got ",
            shape_str(shape_of(h0)), " (batch taken from x ", shape_str(shape_of(x)), ")");
  require_shape(w_ih, {a.G * a.s.H, a.s.I}, "w_ih");
  require_shape(w_hh, {a.G * a.s.H, a.s.H}, "w_hh");
  DLK_CHECK((v == LstmVariant::Peephole) == !peephole.is_none(), "peephole: the '", variant,
            "' variant ",
            v == LstmVariant::Peephole ? "needs peephole weights of shape (3, H)"
                                       : "takes peephole=None");
  return a;
}

template <typename T>
py::tuple forward(py::array x, py::array h0, py::array c0, py::array w_ih, py::array w_hh,
                  py::array b, py::object peephole, const Args& a) {
  const auto& s = a.s;
  const int64_t GH = a.G * s.H;
  const T* px = in_ptr<T>(x, seq_dims(s, s.I), "x");
  const T* ph0 = in_ptr<T>(h0, {s.N, s.H}, "h0");
  const T* pc0 = in_ptr<T>(c0, {s.N, s.H}, "c0");
  const T* pwi = in_ptr<T>(w_ih, {GH, s.I}, "w_ih");
  const T* pwh = in_ptr<T>(w_hh, {GH, s.H}, "w_hh");
  const T* pb = in_ptr<T>(b, {GH}, "b");
  const T* pp = opt_ptr<T>(peephole, {3, s.H}, "peephole");
  auto y = new_array<T>(seq_dims(s, s.H));
  auto gates = new_array<T>(seq_dims(s, GH));
  auto cell = new_array<T>(seq_dims(s, s.H));
  auto tcell = new_array<T>(seq_dims(s, s.H));
  auto hT = new_array<T>({s.N, s.H});
  auto cT = new_array<T>({s.N, s.H});
  T *py_ = y.mutable_data(), *pg = gates.mutable_data(), *pcell = cell.mutable_data(),
    *ptc = tcell.mutable_data(), *phT = hT.mutable_data(), *pcT = cT.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::lstm_forward<T>(s, px, ph0, pc0, pwi, pwh, pb, pp, py_, pg, pcell, ptc);
    const cpu::RnnSteps st(s.T, s.N, s.batch_sizes, s.reverse);
    st.final_state(py_, ph0, s.H, phT);
    st.final_state(pcell, pc0, s.H, pcT);
  }
  return py::make_tuple(y, hT, cT, py::make_tuple(gates, cell, tcell));
}

template <typename T>
py::tuple backward(py::array x, py::array h0, py::array c0, py::array w_ih, py::array w_hh,
                   py::object peephole, const Args& a, py::object y, py::tuple saved, py::object dy,
                   py::object dh_T, py::object dc_T, bool weight_grads = true) {
  const auto& s = a.s;
  const int64_t GH = a.G * s.H;
  DLK_CHECK(saved.size() == 3, "saved: expected the 3-tuple (gates, cell, tanh_cell) that ",
            "lstm_forward returned, got ", saved.size(), " items");
  const T* px = in_ptr<T>(x, seq_dims(s, s.I), "x");
  const T* ph0 = in_ptr<T>(h0, {s.N, s.H}, "h0");
  const T* pc0 = in_ptr<T>(c0, {s.N, s.H}, "c0");
  const T* pwi = in_ptr<T>(w_ih, {GH, s.I}, "w_ih");
  const T* pwh = in_ptr<T>(w_hh, {GH, s.H}, "w_hh");
  const T* pp = opt_ptr<T>(peephole, {3, s.H}, "peephole");
  const T* py_ = opt_ptr<T>(y, seq_dims(s, s.H), "y");
  DLK_CHECK(py_ || s.T <= 1, "y: the outputs of lstm_forward are needed when T > 1");
  py::array saved0 = saved[0].cast<py::array>();
  const T* pg = in_ptr<T>(saved0, seq_dims(s, GH), "saved[0] (gates)");
  py::array saved1 = saved[1].cast<py::array>();
  const T* pcell = in_ptr<T>(saved1, seq_dims(s, s.H), "saved[1] (cell)");
  py::array saved2 = saved[2].cast<py::array>();
  const T* ptc = in_ptr<T>(saved2, seq_dims(s, s.H), "saved[2] (tanh_cell)");
  const T* pdy = opt_ptr<T>(dy, seq_dims(s, s.H), "dy");
  const T* pdh = opt_ptr<T>(dh_T, {s.N, s.H}, "dh_T");
  const T* pdc = opt_ptr<T>(dc_T, {s.N, s.H}, "dc_T");
  auto dx = new_array<T>(seq_dims(s, s.I));
  auto dh0 = new_array<T>({s.N, s.H});
  auto dc0 = new_array<T>({s.N, s.H});
  if (!weight_grads) {  // (dx, dh0, dc0, da): the caller forms the weight gradients
    DLK_CHECK(!pp, "weight_grads=False: the peephole variant is not supported");
    auto da = new_array<T>(seq_dims(s, GH));
    T *pdx = dx.mutable_data(), *pdh0 = dh0.mutable_data(), *pdc0 = dc0.mutable_data(),
      *pda = da.mutable_data();
    {
      py::gil_scoped_release release;
      cpu::lstm_backward<T>(s, px, ph0, pc0, pwi, pwh, pp, py_, pg, pcell, ptc, pdy, pdh, pdc, pdx,
                            pdh0, pdc0, nullptr, nullptr, nullptr, nullptr, pda);
    }
    return py::make_tuple(dx, dh0, dc0, da);
  }
  auto dwi = new_array<T>({GH, s.I});
  auto dwh = new_array<T>({GH, s.H});
  auto db = new_array<T>({GH});
  py::object dp = py::none();
  T* pdp = nullptr;
  if (pp) {
    auto arr = new_array<T>({3, s.H});
    pdp = arr.mutable_data();
    dp = arr;
  }
  T *pdx = dx.mutable_data(), *pdh0 = dh0.mutable_data(), *pdc0 = dc0.mutable_data(),
    *pdwi = dwi.mutable_data(), *pdwh = dwh.mutable_data(), *pdb = db.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::lstm_backward<T>(s, px, ph0, pc0, pwi, pwh, pp, py_, pg, pcell, ptc, pdy, pdh, pdc, pdx,
                          pdh0, pdc0, pdwi, pdwh, pdb, pdp);
  }
  return py::make_tuple(dx, dh0, dc0, dwi, dwh, db, dp);
}

// The cell step is the driver at T = 1: [N, ...] arrays are viewed as [1, N, ...].
py::array add_time_axis(const py::array& a, const char* name) {
  require_ndim(a, 2, name);
  return a.attr("reshape")(1, a.shape(0), a.shape(1)).cast<py::array>();
}

}  // namespace

void bind_lstm(py::module_& m) {
  m.def(
      "lstm_forward",
      [](py::array x, py::array h0, py::array c0, py::array w_ih, py::array w_hh, py::array b,
         py::object peephole, const std::string& variant, bool reverse, py::object batch_sizes) {
        const Args a = lstm_shape(x, h0, w_ih, w_hh, peephole, variant, reverse, batch_sizes);
        return is_float64(x, "x") ? forward<double>(x, h0, c0, w_ih, w_hh, b, peephole, a)
                                  : forward<float>(x, h0, c0, w_ih, w_hh, b, peephole, a);
      },
      py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b"),
      py::arg("peephole") = py::none(), py::arg("variant") = "standard", py::arg("reverse") = false,
      py::arg("batch_sizes") = py::none(),
      "LSTM over x[T, N, I] -> (y[T, N, H], h_T, c_T, saved). Gate order i, f, g, o (coupled:\n"
      "f, g, o with i = 1 - f); w_ih[G*H, I], w_hh[G*H, H], b[G*H]; peephole[3, H] (i, f, o)\n"
      "for variant='peephole'. saved = (gates, cell, tanh_cell) is for lstm_backward.\n"
      "batch_sizes (int64 [T]): packed sequences, x[R, I] sorted by length (PackedSequence);\n"
      "h_T, c_T are then each sequence's state after its own last step.");
  m.def(
      "lstm_backward",
      [](py::array x, py::array h0, py::array c0, py::array w_ih, py::array w_hh,
         py::object peephole, const std::string& variant, bool reverse, py::object y,
         py::tuple saved, py::object dy, py::object dh_T, py::object dc_T, py::object batch_sizes) {
        const Args a = lstm_shape(x, h0, w_ih, w_hh, peephole, variant, reverse, batch_sizes);
        return is_float64(x, "x")
                   ? backward<double>(x, h0, c0, w_ih, w_hh, peephole, a, y, saved, dy, dh_T, dc_T)
                   : backward<float>(x, h0, c0, w_ih, w_hh, peephole, a, y, saved, dy, dh_T, dc_T);
      },
      py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"),
      py::arg("peephole"), py::arg("variant"), py::arg("reverse"), py::arg("y"), py::arg("saved"),
      py::arg("dy"), py::arg("dh_T") = py::none(), py::arg("dc_T") = py::none(),
      py::arg("batch_sizes") = py::none(),
      "Backward through time -> (dx, dh0, dc0, dw_ih, dw_hh, db, dpeephole or None).\n"
      "dy[T, N, H], dh_T, dc_T may be None (zero).");
  m.def(
      "lstm_cell_forward",
      [](py::array x, py::array h, py::array c, py::array w_ih, py::array w_hh, py::array b,
         py::object peephole, const std::string& variant) {
        py::array x3 = add_time_axis(x, "x");
        const Args a = lstm_shape(x3, h, w_ih, w_hh, peephole, variant, false);
        py::tuple r = is_float64(x, "x") ? forward<double>(x3, h, c, w_ih, w_hh, b, peephole, a)
                                         : forward<float>(x3, h, c, w_ih, w_hh, b, peephole, a);
        py::tuple saved = r[3];
        // h_new, c_new and saved = (gates[N, G*H], tanh_cell[N, H]) without the time axis.
        return py::make_tuple(r[1], r[2],
                              py::make_tuple(saved[0].attr("reshape")(a.s.N, a.G * a.s.H),
                                             saved[2].attr("reshape")(a.s.N, a.s.H)));
      },
      py::arg("x"), py::arg("h"), py::arg("c"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b"),
      py::arg("peephole") = py::none(), py::arg("variant") = "standard",
      "One LSTM step -> (h_new, c_new, saved=(gates, tanh_c_new)).");
  m.def(
      "lstm_cell_backward",
      [](py::array x, py::array h, py::array c, py::array w_ih, py::array w_hh, py::object peephole,
         const std::string& variant, py::array c_new, py::tuple saved, py::object dh_new,
         py::object dc_new, bool weight_grads) {
        py::array x3 = add_time_axis(x, "x");
        const Args a = lstm_shape(x3, h, w_ih, w_hh, peephole, variant, false);
        DLK_CHECK(saved.size() == 2, "saved: expected the 2-tuple (gates, tanh_c_new) that ",
                  "lstm_cell_forward returned, got ", saved.size(), " items");
        py::tuple saved3 = py::make_tuple(add_time_axis(saved[0].cast<py::array>(), "saved[0]"),
                                          add_time_axis(c_new, "c_new"),
                                          add_time_axis(saved[1].cast<py::array>(), "saved[1]"));
        py::tuple r = is_float64(x, "x")
                          ? backward<double>(x3, h, c, w_ih, w_hh, peephole, a, py::none(), saved3,
                                             py::none(), dh_new, dc_new, weight_grads)
                          : backward<float>(x3, h, c, w_ih, w_hh, peephole, a, py::none(), saved3,
                                            py::none(), dh_new, dc_new, weight_grads);
        if (!weight_grads)
          return (py::tuple)py::make_tuple(r[0].attr("reshape")(a.s.N, a.s.I), r[1], r[2],
                                           r[3].attr("reshape")(a.s.N, a.G * a.s.H));
        return (py::tuple)py::make_tuple(r[0].attr("reshape")(a.s.N, a.s.I), r[1], r[2], r[3], r[4],
                                         r[5], r[6]);
      },
      py::arg("x"), py::arg("h"), py::arg("c"), py::arg("w_ih"), py::arg("w_hh"),
      py::arg("peephole"), py::arg("variant"), py::arg("c_new"), py::arg("saved"),
      py::arg("dh_new"), py::arg("dc_new") = py::none(), py::arg("weight_grads") = true,
      "Backward of one step -> (dx, dh, dc, dw_ih, dw_hh, db, dpeephole or None); with\n"
      "weight_grads=False -> (dx, dh, dc, da[N, G*H]), the gates' pre-activation gradients, for\n"
      "a caller that forms the weight gradients of many steps in one GEMM.");
  m.def(
      "set_rnn_rung",
      [](const std::string& name) { cpu::set_rnn_rung(cpu::rnn_rung_from_name(name)); },
      py::arg("name"),
      "Force the LSTM/GRU pointwise rung: 'reference', 'avx2', 'avx512' or 'auto'.");
  m.def(
      "set_rnn_gemm_path",
      [](const std::string& name) { cpu::set_rnn_gemm_path(cpu::rnn_gemm_path_from_name(name)); },
      py::arg("name"),
      "How LSTM/GRU multiply by W_hh each step: 'library' (plain gemm, repacks W_hh per step),\n"
      "'packed' (W_hh packed once per sequence call, each step's product split over the threads\n"
      "by columns), 'rows' (packed once, each thread takes a block of the step's rows through\n"
      "the product and the pointwise part) or 'auto' (= rows).");
  m.def("get_rnn_rung",
        []() { return std::string(cpu::rnn_rung_name(cpu::rnn_rung_resolved(true))); });
}

}  // namespace dlk
