// Bindings for the CPU 2-D convolution (csrc/cpu/conv2d.cpp).
#include <pybind11/stl.h>

#include <vector>

#include "cpu/conv2d.h"
#include "python/array_checks.h"
#include "python/cpu_bindings.h"

namespace py = pybind11;

namespace dlk {
namespace {

using namespace py_checks;
using Ints = std::vector<int64_t>;

// (top, bottom, left, right); a pair (ph, pw) means the same on both sides.
Ints padding4(const Ints& p) {
  DLK_CHECK(p.size() == 2 || p.size() == 4,
            "conv2d: padding: expected (top, bottom, left, right) or (ph, pw), got ", p.size(),
            " values");
  Ints q = p.size() == 4 ? p : Ints{p[0], p[0], p[1], p[1]};
  DLK_CHECK(q[0] >= 0 && q[1] >= 0 && q[2] >= 0 && q[3] >= 0,
            "conv2d: padding: expected values >= 0, got ", shape_str(p));
  return q;
}

constexpr int64_t kMaxExtent = int64_t{1} << 62;

// Checks every size of a convolution and fills in the output size. x_shape is N, C, H, W (or
// what the caller reconstructs from input_hw); w_shape is O, C/groups, KH, KW.
cpu::Conv2dShape make_shape(const Ints& x_shape, const Ints& w_shape, const Ints& stride,
                            const Ints& padding, const Ints& dilation, int64_t groups) {
  require_pair(stride, "conv2d", "stride", 1);
  require_pair(dilation, "conv2d", "dilation", 1);
  const Ints pad = padding4(padding);
  DLK_CHECK(groups >= 1, "conv2d: groups: expected >= 1, got ", groups);
  cpu::Conv2dShape s{};
  s.N = x_shape[0];
  s.C = x_shape[1];
  s.H = x_shape[2];
  s.W = x_shape[3];
  s.O = w_shape[0];
  s.KH = w_shape[2];
  s.KW = w_shape[3];
  DLK_CHECK(s.C % groups == 0, "conv2d: input channels ", s.C, " are not divisible by groups ",
            groups);
  DLK_CHECK(s.O % groups == 0, "conv2d: output channels ", s.O,
            " (w.shape[0]) are not divisible by groups ", groups);
  DLK_CHECK(w_shape[1] == s.C / groups, "conv2d: w.shape[1]: expected C / groups = ", s.C, " / ",
            groups, " = ", s.C / groups, ", got ", w_shape[1], " (w has shape ", shape_str(w_shape),
            ")");
  DLK_CHECK(s.KH >= 1 && s.KW >= 1, "conv2d: expected a kernel of at least 1 x 1, got w shape ",
            shape_str(w_shape));
  DLK_CHECK(s.O >= 1, "conv2d: expected at least one output channel, got w shape ",
            shape_str(w_shape));
  s.sh = stride[0];
  s.sw = stride[1];
  s.pt = pad[0];
  s.pb = pad[1];
  s.pl = pad[2];
  s.pr = pad[3];
  s.dh = dilation[0];
  s.dw = dilation[1];
  s.groups = groups;
  // Geometry in 128-bit arithmetic (every term is below 2^63, so nothing below overflows):
  // dilation 2^62 or padding near 2^63 used to wrap around in int64 into a bogus output size.
  const __int128 padded_h = __int128{s.H} + s.pt + s.pb, padded_w = __int128{s.W} + s.pl + s.pr;
  DLK_CHECK(padded_h <= kMaxExtent && padded_w <= kMaxExtent,
            "conv2d: padded input size must be at most 2^62, got input ", s.H, " x ", s.W,
            " with padding ", shape_str(pad));
  auto out_size = [](__int128 padded, int64_t k, int64_t stride, int64_t dil) -> int64_t {
    const __int128 span = padded - (__int128{dil} * (k - 1) + 1);
    return span < 0 ? 0 : static_cast<int64_t>(span / stride + 1);
  };
  s.OH = out_size(padded_h, s.KH, s.sh, s.dh);
  s.OW = out_size(padded_w, s.KW, s.sw, s.dw);
  DLK_CHECK(s.OH >= 1 && s.OW >= 1, "conv2d: output size would be ", s.OH, " x ", s.OW,
            " (expected at least 1 x 1): input ", s.H, " x ", s.W, ", kernel ", s.KH, " x ", s.KW,
            ", dilation ", shape_str(dilation), ", padding ", shape_str(pad), ", stride ",
            shape_str(stride));
  // A stride past the padded input leaves one output position, exactly as the padded size
  // does; clamping it keeps the kernels' index arithmetic (oh * stride, ...) within 2^62.
  s.sh = std::min<int64_t>(s.sh, static_cast<int64_t>(padded_h));
  s.sw = std::min<int64_t>(s.sw, static_cast<int64_t>(padded_w));
  // The dilated kernel fits in the padded input (OH, OW >= 1), so dh * (KH - 1) <= 2^62 too.
  return s;
}

template <typename T>
const T* ptr(const py::array& a) {
  return static_cast<const T*>(a.data());
}

// A 4-D input of dtype T, made C-contiguous in place.
template <typename T>
void require_input(py::array& a, const char* name) {
  require_ndim(a, 4, name);
  make_c_contiguous<T>(a, name);
}

template <typename T>
py::array forward(py::array x, py::array w, py::object bias_obj, const Ints& stride,
                  const Ints& padding, const Ints& dilation, int64_t groups, cpu::Activation act) {
  require_input<T>(x, "x");
  require_input<T>(w, "w");
  const cpu::Conv2dShape s =
      make_shape(shape_of(x), shape_of(w), stride, padding, dilation, groups);
  const T* b = nullptr;
  py::array bias;
  make_c_contiguous<T>(bias_obj, "bias");
  if (!bias_obj.is_none()) {
    bias = bias_obj.cast<py::array>();
    require_shape(bias, {s.O}, "bias");
    b = ptr<T>(bias);
  }
  require_allocatable({s.N, s.O, s.OH, s.OW}, sizeof(T), "conv2d: y");
  py::array_t<T> y({s.N, s.O, s.OH, s.OW});
  T* py = y.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::conv2d_forward<T>(s, ptr<T>(x), ptr<T>(w), b, py, act);
  }
  return y;
}

template <typename T>
py::array backward_input(py::array gy, py::array w, const Ints& input_hw, const Ints& stride,
                         const Ints& padding, const Ints& dilation, int64_t groups) {
  require_input<T>(gy, "gy");
  require_input<T>(w, "w");
  require_pair(input_hw, "conv2d", "input_hw", 1);
  const Ints gys = shape_of(gy), ws = shape_of(w);
  DLK_CHECK(groups >= 1 && groups <= kMaxExtent && ws[1] <= kMaxExtent / groups,
            "conv2d: groups: expected 1 <= groups with w.shape[1] * groups <= 2^62, got groups ",
            groups, " and w shape ", shape_str(ws));
  const Ints xs{gys[0], ws[1] * groups, input_hw[0], input_hw[1]};
  const cpu::Conv2dShape s = make_shape(xs, ws, stride, padding, dilation, groups);
  require_shape(gy, {s.N, s.O, s.OH, s.OW}, "gy");
  require_allocatable({s.N, s.C, s.H, s.W}, sizeof(T), "conv2d: gx");
  py::array_t<T> gx({s.N, s.C, s.H, s.W});
  T* p = gx.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::conv2d_backward_input<T>(s, ptr<T>(gy), ptr<T>(w), p);
  }
  return gx;
}

template <typename T>
py::array backward_weight(py::array gy, py::array x, const Ints& kernel_hw, const Ints& stride,
                          const Ints& padding, const Ints& dilation, int64_t groups) {
  require_input<T>(gy, "gy");
  require_input<T>(x, "x");
  require_pair(kernel_hw, "conv2d", "kernel_hw", 1);
  const Ints gys = shape_of(gy), xs = shape_of(x);
  DLK_CHECK(groups >= 1, "conv2d: groups: expected >= 1, got ", groups);
  const Ints ws{gys[1], xs[1] / groups, kernel_hw[0], kernel_hw[1]};
  const cpu::Conv2dShape s = make_shape(xs, ws, stride, padding, dilation, groups);
  require_shape(gy, {s.N, s.O, s.OH, s.OW}, "gy");
  require_allocatable({s.O, s.C / groups, s.KH, s.KW}, sizeof(T), "conv2d: gw");
  py::array_t<T> gw({s.O, s.C / groups, s.KH, s.KW});
  T* p = gw.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::conv2d_backward_weight<T>(s, ptr<T>(gy), ptr<T>(x), p);
  }
  return gw;
}

template <typename T>
py::array backward_bias(py::array gy) {
  require_input<T>(gy, "gy");
  const Ints g = shape_of(gy);
  py::array_t<T> gb({g[1]});
  T* p = gb.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::conv2d_backward_bias<T>(g[0], g[1], g[2] * g[3], ptr<T>(gy), p);
  }
  return gb;
}

// Dtype of the call from its first array, which must be 4-D and float (any strides).
bool call_dtype(const py::array& a, const char* name) {
  require_ndim(a, 4, name);
  return is_float64(a, name);
}

}  // namespace

void bind_conv2d(py::module_& m) {
  const auto s = py::arg("stride") = Ints{1, 1};
  const auto p = py::arg("padding") = Ints{0, 0, 0, 0};
  const auto d = py::arg("dilation") = Ints{1, 1};
  const auto g = py::arg("groups") = 1;
  m.def(
      "conv2d_forward",
      [](py::array x, py::array w, py::object bias, const Ints& st, const Ints& pd, const Ints& dl,
         int64_t gr, const std::string& activation) {
        const cpu::Activation act = cpu::activation_from_name(activation);
        return call_dtype(x, "x") ? forward<double>(x, w, bias, st, pd, dl, gr, act)
                                  : forward<float>(x, w, bias, st, pd, dl, gr, act);
      },
      py::arg("x"), py::arg("w"), py::arg("bias") = py::none(), s, p, d, g,
      py::arg("activation") = "none",
      "y[N, O, OH, OW] = act(conv2d(x[N, C, H, W], w[O, C/groups, KH, KW]) + bias[O]).\n"
      "stride (sh, sw); padding (top, bottom, left, right) or (ph, pw); dilation (dh, dw);\n"
      "activation 'none', 'relu' (applied as y is written), 'tanh' or 'sigmoid'.");
  m.def(
      "conv2d_backward_input",
      [](py::array gy, py::array w, const Ints& hw, const Ints& st, const Ints& pd, const Ints& dl,
         int64_t gr) {
        return call_dtype(gy, "gy") ? backward_input<double>(gy, w, hw, st, pd, dl, gr)
                                    : backward_input<float>(gy, w, hw, st, pd, dl, gr);
      },
      py::arg("gy"), py::arg("w"), py::arg("input_hw"), s, p, d, g,
      "Gradient of conv2d_forward with respect to x: gx[N, C, H, W] with (H, W) = input_hw.");
  m.def(
      "conv2d_backward_weight",
      [](py::array gy, py::array x, const Ints& khw, const Ints& st, const Ints& pd, const Ints& dl,
         int64_t gr) {
        return call_dtype(gy, "gy") ? backward_weight<double>(gy, x, khw, st, pd, dl, gr)
                                    : backward_weight<float>(gy, x, khw, st, pd, dl, gr);
      },
      py::arg("gy"), py::arg("x"), py::arg("kernel_hw"), s, p, d, g,
      "Gradient of conv2d_forward with respect to w: gw[O, C/groups, KH, KW].");
  m.def(
      "conv2d_backward_bias",
      [](py::array gy) {
        return call_dtype(gy, "gy") ? backward_bias<double>(gy) : backward_bias<float>(gy);
      },
      py::arg("gy"), "Gradient of conv2d_forward with respect to bias: gy summed over N, OH, OW.");
  m.def(
      "set_conv2d_rung",
      [](const std::string& name) { cpu::set_conv2d_rung(cpu::conv2d_rung_from_name(name)); },
      py::arg("name"),
      "Force one conv2d rung: 'reference', 'im2col', 'im2col_per_image', 'winograd', 'implicit'\n"
      "or 'auto'.");
  m.def("get_conv2d_rung", []() { return std::string(cpu::conv2d_rung_name(cpu::conv2d_rung())); });
}

}  // namespace dlk
