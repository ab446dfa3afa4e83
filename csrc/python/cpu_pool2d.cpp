// Bindings for CPU 2-D max and average pooling (csrc/cpu/pool2d.cpp).
#include <pybind11/stl.h>

#include <tuple>
#include <vector>

#include "cpu/pool2d.h"
#include "python/array_checks.h"
#include "python/cpu_bindings.h"

namespace py = pybind11;

namespace dlk {
namespace {

using namespace py_checks;
using Ints = std::vector<int64_t>;

constexpr int64_t kMaxPoolArg = (int64_t{1} << 31) - 1;

// x_shape: N, C, H, W. Checks the window and fills in the (floor-mode) output size.
cpu::Pool2dShape make_shape(const Ints& x_shape, const Ints& kernel, const Ints& stride,
                            const Ints& padding) {
  require_pair(kernel, "pool2d", "kernel", 1);
  require_pair(stride, "pool2d", "stride", 1);
  require_pair(padding, "pool2d", "padding", 0);
  // As PyTorch (which takes them as C int): larger values would overflow the window arithmetic
  // (int64 products of index and stride) for no use, since no image is that large.
  for (const auto& [v, what] : {std::pair{&kernel, "kernel"}, {&stride, "stride"},
                                {&padding, "padding"}})
    DLK_CHECK((*v)[0] <= kMaxPoolArg && (*v)[1] <= kMaxPoolArg, "pool2d: ", what,
              ": expected values <= 2^31 - 1, got ", shape_str(*v));
  DLK_CHECK(padding[0] <= kernel[0] / 2 && padding[1] <= kernel[1] / 2,
            "pool2d: padding should be at most half the kernel: expected padding <= ",
            shape_str({kernel[0] / 2, kernel[1] / 2}), ", got ", shape_str(padding));
  cpu::Pool2dShape s{};
  s.N = x_shape[0];
  s.C = x_shape[1];
  s.H = x_shape[2];
  s.W = x_shape[3];
  s.KH = kernel[0];
  s.KW = kernel[1];
  s.SH = stride[0];
  s.SW = stride[1];
  s.PH = padding[0];
  s.PW = padding[1];
  const int64_t sh = s.H + 2 * s.PH - s.KH, sw = s.W + 2 * s.PW - s.KW;
  s.OH = sh < 0 ? 0 : sh / s.SH + 1;
  s.OW = sw < 0 ? 0 : sw / s.SW + 1;
  DLK_CHECK(s.OH >= 1 && s.OW >= 1, "pool2d: output size would be ", s.OH, " x ", s.OW,
            " (expected at least 1 x 1): input ", s.H, " x ", s.W, ", kernel ", shape_str(kernel),
            ", padding ", shape_str(padding), ", stride ", shape_str(stride));
  return s;
}

// Dtype of the call from its first array, which must be 4-D and float (any strides: each
// function makes its inputs C-contiguous).
bool call_dtype(const py::array& a, const char* name) {
  require_ndim(a, 4, name);
  return is_float64(a, name);
}

template <typename T>
const T* ptr(const py::array& a) {
  return static_cast<const T*>(a.data());
}

template <typename T>
py::tuple max_forward(py::array x, const Ints& k, const Ints& st, const Ints& pd) {
  make_c_contiguous<T>(x, "x");
  const cpu::Pool2dShape s = make_shape(shape_of(x), k, st, pd);
  require_allocatable({s.N, s.C, s.OH, s.OW}, sizeof(T), "pool2d: y");
  py::array_t<T> y({s.N, s.C, s.OH, s.OW});
  py::array_t<int64_t> am({s.N, s.C, s.OH, s.OW});
  T* py_ = y.mutable_data();
  int64_t* pa = am.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::max_pool2d_forward<T>(s, ptr<T>(x), py_, pa);
  }
  return py::make_tuple(y, am);
}

template <typename T>
py::array max_backward(py::array gy, py::array argmax, const Ints& input_hw) {
  require_pair(input_hw, "pool2d", "input_hw", 1);
  make_c_contiguous<T>(gy, "gy");
  const Ints g = shape_of(gy);
  make_index_array(argmax, "argmax");
  require_shape(argmax, g, "argmax");
  cpu::Pool2dShape s{};
  s.N = g[0];
  s.C = g[1];
  s.H = input_hw[0];
  s.W = input_hw[1];
  s.OH = g[2];
  s.OW = g[3];
  require_allocatable({s.N, s.C, s.H, s.W}, sizeof(T), "pool2d: gx");
  py::array_t<T> gx({s.N, s.C, s.H, s.W});
  T* p = gx.mutable_data();
  int64_t bad;
  {
    py::gil_scoped_release release;
    bad = cpu::max_pool2d_backward<T>(s, ptr<T>(gy), static_cast<const int64_t*>(argmax.data()), p);
  }
  DLK_CHECK(bad == 0, "max_pool2d_backward: argmax: expected indices in [0, H*W) = [0, ", s.H * s.W,
            "), got ", bad, " out of range");
  return gx;
}

template <typename T>
py::array avg_forward(py::array x, const Ints& k, const Ints& st, const Ints& pd, bool cip) {
  make_c_contiguous<T>(x, "x");
  const cpu::Pool2dShape s = make_shape(shape_of(x), k, st, pd);
  require_allocatable({s.N, s.C, s.OH, s.OW}, sizeof(T), "pool2d: y");
  py::array_t<T> y({s.N, s.C, s.OH, s.OW});
  T* p = y.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::avg_pool2d_forward<T>(s, ptr<T>(x), p, cip);
  }
  return y;
}

template <typename T>
py::array avg_backward(py::array gy, const Ints& input_hw, const Ints& k, const Ints& st,
                       const Ints& pd, bool cip) {
  require_pair(input_hw, "pool2d", "input_hw", 1);
  make_c_contiguous<T>(gy, "gy");
  const Ints g = shape_of(gy);
  const cpu::Pool2dShape s = make_shape({g[0], g[1], input_hw[0], input_hw[1]}, k, st, pd);
  require_shape(gy, {s.N, s.C, s.OH, s.OW}, "gy");
  require_allocatable({s.N, s.C, s.H, s.W}, sizeof(T), "pool2d: gx");
  py::array_t<T> gx({s.N, s.C, s.H, s.W});
  T* p = gx.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::avg_pool2d_backward<T>(s, ptr<T>(gy), p, cip);
  }
  return gx;
}

}  // namespace

void bind_pool2d(py::module_& m) {
  m.def(
      "max_pool2d_forward",
      [](py::array x, const Ints& k, const Ints& st, const Ints& pd) {
        return call_dtype(x, "x") ? max_forward<double>(x, k, st, pd)
                                  : max_forward<float>(x, k, st, pd);
      },
      py::arg("x"), py::arg("kernel"), py::arg("stride"), py::arg("padding") = Ints{0, 0},
      "(y, argmax) = max_pool2d(x[N, C, H, W]); argmax[n, c, oh, ow] = ih * W + iw (int64) of\n"
      "the first maximum in row-major window order. padding (ph, pw) is -inf, <= kernel / 2.");
  m.def(
      "max_pool2d_backward",
      [](py::array gy, py::array argmax, const Ints& hw) {
        return call_dtype(gy, "gy") ? max_backward<double>(gy, argmax, hw)
                                    : max_backward<float>(gy, argmax, hw);
      },
      py::arg("gy"), py::arg("argmax"), py::arg("input_hw"),
      "gx[N, C, H, W] with gx.flat_plane[argmax] += gy; (H, W) = input_hw.");
  m.def(
      "avg_pool2d_forward",
      [](py::array x, const Ints& k, const Ints& st, const Ints& pd, bool cip) {
        return call_dtype(x, "x") ? avg_forward<double>(x, k, st, pd, cip)
                                  : avg_forward<float>(x, k, st, pd, cip);
      },
      py::arg("x"), py::arg("kernel"), py::arg("stride"), py::arg("padding") = Ints{0, 0},
      py::arg("count_include_pad") = true,
      "y = average of each window (zero padding counted in the divisor when count_include_pad).");
  m.def(
      "avg_pool2d_backward",
      [](py::array gy, const Ints& hw, const Ints& k, const Ints& st, const Ints& pd, bool cip) {
        return call_dtype(gy, "gy") ? avg_backward<double>(gy, hw, k, st, pd, cip)
                                    : avg_backward<float>(gy, hw, k, st, pd, cip);
      },
      py::arg("gy"), py::arg("input_hw"), py::arg("kernel"), py::arg("stride"),
      py::arg("padding") = Ints{0, 0}, py::arg("count_include_pad") = true,
      "Gradient of avg_pool2d_forward: gx[N, C, H, W] with (H, W) = input_hw.");
  m.def(
      "set_pool2d_rung",
      [](const std::string& name) { cpu::set_pool2d_rung(cpu::pool2d_rung_from_name(name)); },
      py::arg("name"),
      "Force one pool2d rung: 'reference', 'fast', 'portable' (the fast rung's baseline build) or "
      "'auto'.");
  m.def("get_pool2d_rung", []() { return std::string(cpu::pool2d_rung_name(cpu::pool2d_rung())); });
}

}  // namespace dlk
