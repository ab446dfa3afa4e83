// Bindings for the CPU GEMM and its bias + activation epilogue.
#include "cpu/activation.h"
#include "cpu/gemm.h"
#include "python/array_checks.h"
#include "python/cpu_bindings.h"

namespace py = pybind11;

namespace dlk {
namespace {

using namespace py_checks;

// Leading dimension of a 2-D array whose rows are unit-stride; anything else is refused
// rather than silently copied, so the caller knows the cost.
int64_t leading_dim(const py::array& a, const char* name) {
  const int64_t item = a.itemsize();
  if (a.size() == 0) return std::max<int64_t>(a.shape(1), 1);  // numpy gives empties any strides
  DLK_CHECK(a.shape(1) <= 1 || a.strides(1) == item, name,
            ": expected rows of unit stride (C-contiguous or a row slice of one), got strides ",
            shape_str({a.strides(0), a.strides(1)}));
  if (a.shape(0) <= 1) return std::max<int64_t>(a.shape(1), 1);
  DLK_CHECK(a.strides(0) > 0 && a.strides(0) % item == 0 && a.strides(0) / item >= a.shape(1), name,
            ": expected a positive row stride of at least ", a.shape(1), " elements, got ",
            a.strides(0), " bytes");
  return a.strides(0) / item;
}

template <typename T>
py::array run_gemm(py::array a, py::array b, py::object c_obj, bool ta, bool tb, double alpha,
                   double beta) {
  require_dtype<T>(b, "b");
  const int64_t M = ta ? a.shape(1) : a.shape(0);
  const int64_t K = ta ? a.shape(0) : a.shape(1);
  const int64_t Kb = tb ? b.shape(1) : b.shape(0);
  const int64_t N = tb ? b.shape(0) : b.shape(1);
  DLK_CHECK(K == Kb, "gemm: inner dimensions differ: op(a) is ", shape_str({M, K}),
            " and op(b) is ", shape_str({Kb, N}));
  const int64_t lda = leading_dim(a, "a"), ldb = leading_dim(b, "b");
  py::array c;
  if (c_obj.is_none()) {
    c = py::array_t<T>({M, N});
    beta = 0.0;
  } else {
    c = c_obj.cast<py::array>();
    require_dtype<T>(c, "c");
    require_shape(c, {M, N}, "c");
    require_writeable(c, "c");
    require_no_overlap(c, a, "c", "a");
    require_no_overlap(c, b, "c", "b");
  }
  const int64_t ldc = leading_dim(c, "c");
  const T* pa = static_cast<const T*>(a.data());
  const T* pb = static_cast<const T*>(b.data());
  T* pc = static_cast<T*>(c.mutable_data());
  {
    py::gil_scoped_release release;
    cpu::gemm<T>(ta, tb, M, N, K, static_cast<T>(alpha), pa, lda, pb, ldb, static_cast<T>(beta), pc,
                 ldc);
  }
  return c;
}

// y = act(x @ w.T + bias): a Linear layer and its activation in one GEMM.
template <typename T>
py::array run_linear(py::array x, py::array w, py::object bias_obj, cpu::Activation act) {
  require_dtype<T>(w, "w");
  const int64_t M = x.shape(0), K = x.shape(1), N = w.shape(0);
  DLK_CHECK(w.shape(1) == K, "linear_forward: x is ", shape_str({M, K}), " and w is ",
            shape_str({N, w.shape(1)}), ": expected w of shape (out_features, ", K, ")");
  const int64_t ldx = leading_dim(x, "x"), ldw = leading_dim(w, "w");
  const T* pb = nullptr;
  py::array bias;
  if (!bias_obj.is_none()) {
    bias = bias_obj.cast<py::array>();
    require_dtype<T>(bias, "bias");
    require_shape(bias, {N}, "bias");
    make_c_contiguous<T>(bias, "bias");
    pb = static_cast<const T*>(bias.data());
  }
  py::array_t<T> y({M, N});
  const T* px = static_cast<const T*>(x.data());
  const T* pw = static_cast<const T*>(w.data());
  T* py_ = y.mutable_data();
  py::gil_scoped_release release;
  cpu::gemm_bias_act<T>(false, true, M, N, K, px, ldx, pw, ldw, pb, false, act, py_,
                        std::max<int64_t>(N, 1));
  return y;
}

// (gz, gb): the gradient through act (from its output y) and, if asked, the bias's.
template <typename T>
py::tuple run_activation_backward(py::array g, py::array y, cpu::Activation act, bool bias_grad) {
  require_dtype<T>(y, "y");
  require_shape(y, shape_of(g), "y");
  make_c_contiguous<T>(g, "g");
  make_c_contiguous<T>(y, "y");
  const int64_t N = g.ndim() == 0 ? 1 : g.shape(g.ndim() - 1);
  const int64_t M = N == 0 ? 0 : g.size() / N;
  py::array_t<T> gz(shape_of(g));
  py::object gb = py::none();
  T* pgb = nullptr;
  if (bias_grad) {
    py::array_t<T> b({N});
    pgb = b.mutable_data();
    gb = b;
  }
  const T* pg = static_cast<const T*>(g.data());
  const T* py_ = static_cast<const T*>(y.data());
  T* pz = gz.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::activation_backward<T>(act, M, N, pg, py_, pz, pgb);
  }
  return py::make_tuple(gz, gb);
}

template <typename T>
void bind_packed_b(py::module_& m, const char* name) {
  py::class_<cpu::PackedB<T>>(m, name, "op(b) packed once for many products (see gemm_packed).")
      .def_property_readonly(
          "shape", [](const cpu::PackedB<T>& p) { return py::make_tuple(p.rows(), p.cols()); });
}

template <typename T>
py::array run_gemm_packed(py::array a, const cpu::PackedB<T>& b, py::object c_obj, bool ta,
                          double alpha, double beta) {
  require_dtype<T>(a, "a");
  const int64_t M = ta ? a.shape(1) : a.shape(0), K = ta ? a.shape(0) : a.shape(1);
  DLK_CHECK(K == b.rows(), "gemm_packed: inner dimensions differ: op(a) is ", shape_str({M, K}),
            " and the packed b is ", shape_str({b.rows(), b.cols()}));
  const int64_t lda = leading_dim(a, "a");
  py::array c;
  if (c_obj.is_none()) {
    c = py::array_t<T>({M, b.cols()});
    beta = 0.0;
  } else {
    c = c_obj.cast<py::array>();
    require_dtype<T>(c, "c");
    require_shape(c, {M, b.cols()}, "c");
    require_writeable(c, "c");
    require_no_overlap(c, a, "c", "a");
  }
  const int64_t ldc = leading_dim(c, "c");
  const T* pa = static_cast<const T*>(a.data());
  T* pc = static_cast<T*>(c.mutable_data());
  py::gil_scoped_release release;
  cpu::gemm_packed<T>(ta, M, static_cast<T>(alpha), pa, lda, b, static_cast<T>(beta), pc, ldc);
  return c;
}

template <typename T>
cpu::PackedB<T> make_packed(py::array b, bool tb) {
  require_ndim(b, 2, "b");
  const int64_t ldb = leading_dim(b, "b");
  const int64_t K = tb ? b.shape(1) : b.shape(0), N = tb ? b.shape(0) : b.shape(1);
  const T* pb = static_cast<const T*>(b.data());
  py::gil_scoped_release release;
  return cpu::PackedB<T>(tb, K, N, pb, ldb);
}

}  // namespace

void bind_gemm(py::module_& m) {
  bind_packed_b<float>(m, "PackedBFloat32");
  bind_packed_b<double>(m, "PackedBFloat64");
  m.def(
      "pack_b",
      [](py::array b, bool trans_b) -> py::object {
        if (is_float64(b, "b")) return py::cast(make_packed<double>(b, trans_b));
        return py::cast(make_packed<float>(b, trans_b));
      },
      py::arg("b"), py::kw_only(), py::arg("trans_b") = false,
      "Pack op(b) once for gemm_packed (a weight reused across many products).");
  m.def(
      "gemm_packed",
      [](py::array a, py::object b, py::object c, bool trans_a, double alpha, double beta) {
        require_ndim(a, 2, "a");
        if (py::isinstance<cpu::PackedB<double>>(b))
          return run_gemm_packed<double>(a, b.cast<const cpu::PackedB<double>&>(), c, trans_a,
                                         alpha, beta);
        if (py::isinstance<cpu::PackedB<float>>(b))
          return run_gemm_packed<float>(a, b.cast<const cpu::PackedB<float>&>(), c, trans_a,
                                        alpha, beta);
        throw py::type_error(
            "gemm_packed: b: expected what pack_b returns (PackedBFloat32 or PackedBFloat64), "
            "got " +
            py::str(py::type::of(b).attr("__name__")).cast<std::string>());
      },
      py::arg("a"), py::arg("b"), py::arg("c") = py::none(), py::kw_only(),
      py::arg("trans_a") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
      "c = alpha * op(a) @ b + beta * c with b from pack_b.");
  m.def(
      "gemm",
      [](py::array a, py::array b, py::object c, bool trans_a, bool trans_b, double alpha,
         double beta) {
        require_ndim(a, 2, "a");
        require_ndim(b, 2, "b");
        return is_float64(a, "a") ? run_gemm<double>(a, b, c, trans_a, trans_b, alpha, beta)
                                  : run_gemm<float>(a, b, c, trans_a, trans_b, alpha, beta);
      },
      // No kw_only: the backend passes trans_a / trans_b by position, since pybind11 matches
      // keyword arguments by name on every call (~1 us, as much as a 16x16 product).
      py::arg("a"), py::arg("b"), py::arg("c") = py::none(), py::arg("trans_a") = false,
      py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
      "c = alpha * op(a) @ op(b) + beta * c (float32 or float64, 2-D, rows of unit stride).\n"
      "With c=None a new array is returned and beta is ignored; otherwise c is updated in place\n"
      "and returned. beta=0 ignores what c held, NaN included.");
  m.def(
      "linear_forward",
      [](py::array x, py::array w, py::object bias, const std::string& activation) {
        require_ndim(x, 2, "x");
        require_ndim(w, 2, "w");
        const cpu::Activation act = cpu::activation_from_name(activation);
        return is_float64(x, "x") ? run_linear<double>(x, w, bias, act)
                                  : run_linear<float>(x, w, bias, act);
      },
      py::arg("x"), py::arg("w"), py::arg("bias") = py::none(), py::arg("activation") = "none",
      "y = act(x @ w.T + bias) in one GEMM: the bias and activation are applied to each tile\n"
      "of y as the product completes it. x (M, K), w (N, K), bias (N,) or None; activation\n"
      "'none', 'relu', 'tanh' or 'sigmoid'.");
  m.def(
      "activation_backward",
      [](py::array g, py::array y, const std::string& activation, bool bias_grad) {
        const cpu::Activation act = cpu::activation_from_name(activation);
        return is_float64(g, "g") ? run_activation_backward<double>(g, y, act, bias_grad)
                                  : run_activation_backward<float>(g, y, act, bias_grad);
      },
      py::arg("g"), py::arg("y"), py::arg("activation"), py::arg("bias_grad") = false,
      "(gz, gb) for y = act(z + bias) from the output y: gz = g * act'(y) (relu: y > 0, tanh:\n"
      "1 - y^2, sigmoid: y (1 - y)), and gb = gz summed over every axis but the last (None\n"
      "unless bias_grad).");
  m.def(
      "set_gemm_rung",
      [](const std::string& name) { cpu::set_gemm_rung(cpu::gemm_rung_from_name(name)); },
      py::arg("name"),
      "Force one rung of the GEMM ladder: 'reference', 'portable', 'avx2', 'avx512' or 'auto'.");
  m.def("get_gemm_rung",
        []() { return std::string(cpu::gemm_rung_name(cpu::gemm_rung_resolved())); });
}

}  // namespace dlk
