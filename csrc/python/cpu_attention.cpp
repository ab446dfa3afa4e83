// Bindings for the fused single-query attention (csrc/cpu/attention.cpp).
#include "cpu/attention.h"
#include "python/array_checks.h"
#include "python/cpu_bindings.h"

namespace py = pybind11;

namespace dlk {
namespace {

using namespace py_checks;

struct Dims {
  int64_t N, S, D, Dv;
};

// q (N, D), k (N, S, D), v (N, S, Dv) of dtype T, made C-contiguous in place; mask None or
// (N, S) bool / integer, made a C-contiguous uint8 array.
template <typename T>
Dims check_inputs(py::array& q, py::array& k, py::array& v, py::object& mask) {
  require_ndim(q, 2, "query");
  require_ndim(k, 3, "keys");
  require_ndim(v, 3, "values");
  make_c_contiguous<T>(q, "query");
  make_c_contiguous<T>(k, "keys");
  make_c_contiguous<T>(v, "values");
  const Dims d{q.shape(0), k.shape(1), q.shape(1), v.shape(2)};
  require_shape(k, {d.N, -1, d.D}, "keys (N, S, D) for query (N, D)");
  require_shape(v, {d.N, d.S, -1}, "values (N, S, Dv) for keys (N, S, D)");
  if (!mask.is_none()) {
    py::array m = mask.cast<py::array>();
    const char kind = m.dtype().kind();
    DLK_CHECK(kind == 'b' || kind == 'i' || kind == 'u',
              "mask: expected a bool or integer array, got dtype ", dtype_name(m));
    require_shape(m, {d.N, d.S}, "mask (N, S)");
    // numpy's cast to bool is `!= 0`; a C-contiguous bool mask passes through uncopied.
    mask = py::array_t<bool, py::array::c_style | py::array::forcecast>::ensure(m);
  }
  return d;
}

const uint8_t* mask_data(const py::object& mask) {
  // bool is one byte holding 0 or 1
  return mask.is_none() ? nullptr : reinterpret_cast<const uint8_t*>(mask.cast<py::array>().data());
}

template <typename T>
const T* data(const py::array& a) {
  return static_cast<const T*>(a.data());
}

template <typename T>
py::tuple forward(py::array q, py::array k, py::array v, py::object mask) {
  const Dims d = check_inputs<T>(q, k, v, mask);
  py::array_t<T> ctx({d.N, d.Dv}), w({d.N, d.S});
  {
    py::gil_scoped_release release;
    cpu::attention_forward<T>(d.N, d.S, d.D, d.Dv, data<T>(q), data<T>(k), data<T>(v),
                              mask_data(mask), ctx.mutable_data(), w.mutable_data());
  }
  return py::make_tuple(ctx, w);
}

template <typename T>
py::tuple backward(py::array g_ctx, py::object g_w, py::array q, py::array k, py::array v,
                   py::object mask, py::array w) {
  const Dims d = check_inputs<T>(q, k, v, mask);
  make_c_contiguous<T>(g_ctx, "grad_context");
  require_shape(g_ctx, {d.N, d.Dv}, "grad_context (N, Dv)");
  make_c_contiguous<T>(w, "weights");
  require_shape(w, {d.N, d.S}, "weights (N, S)");
  make_c_contiguous<T>(g_w, "grad_weights");
  const T* gw = nullptr;
  if (!g_w.is_none()) {
    py::array a = g_w.cast<py::array>();
    require_shape(a, {d.N, d.S}, "grad_weights (N, S)");
    gw = data<T>(a);
  }
  py::array_t<T> g_q({d.N, d.D}), g_k({d.N, d.S, d.D}), g_v({d.N, d.S, d.Dv});
  {
    py::gil_scoped_release release;
    cpu::attention_backward<T>(d.N, d.S, d.D, d.Dv, data<T>(g_ctx), gw, data<T>(q), data<T>(k),
                               data<T>(v), mask_data(mask), data<T>(w), g_q.mutable_data(),
                               g_k.mutable_data(), g_v.mutable_data());
  }
  return py::make_tuple(g_q, g_k, g_v);
}

}  // namespace

void bind_attention(py::module_& m) {
  m.def(
      "attention_forward",
      [](py::array q, py::array k, py::array v, py::object mask) {
        return is_float64(q, "query") ? forward<double>(q, k, v, mask)
                                      : forward<float>(q, k, v, mask);
      },
      py::arg("query"), py::arg("keys"), py::arg("values"), py::arg("mask") = py::none(),
      "(context (N, Dv), weights (N, S)): softmax over s of query (N, D) . keys (N, S, D),\n"
      "masked where mask (N, S) is false (-inf scores), and the weighted sum of values\n"
      "(N, S, Dv). One query per row: an attentional decoder's step.");
  m.def(
      "attention_backward",
      [](py::array g_ctx, py::object g_w, py::array q, py::array k, py::array v, py::object mask,
         py::array w) {
        return is_float64(q, "query") ? backward<double>(g_ctx, g_w, q, k, v, mask, w)
                                      : backward<float>(g_ctx, g_w, q, k, v, mask, w);
      },
      py::arg("grad_context"), py::arg("grad_weights"), py::arg("query"), py::arg("keys"),
      py::arg("values"), py::arg("mask"), py::arg("weights"),
      "(grad_query, grad_keys, grad_values) of attention_forward, from the gradients of its\n"
      "context and (or None) its weights, its inputs and its weights.");
}

}  // namespace dlk
