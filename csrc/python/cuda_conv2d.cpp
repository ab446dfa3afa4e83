// Bindings of the CUDA 2-D convolution (csrc/cuda/conv2d.cu). Arguments are DeviceArrays (float32;
// int64 for targets and argmax); every shape and dtype is checked here and a mismatch raises
// ValueError naming what was expected and what came. Results are new DeviceArrays.
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <optional>

#include "cuda/kernels.h"
#include "python/cuda_bindings.h"

namespace dlk::cuda {
namespace {

Conv2dShape conv_geom(const std::vector<int64_t>& xs, const std::vector<int64_t>& ws, Pair stride,
                      const std::vector<int64_t>& padding, Pair dil, int64_t groups) {
  const Quad pad = padding4(padding);
  DLK_CHECK(xs.size() == 4, "x: expected a 4-D NCHW array, got shape ", shape_str(xs));
  DLK_CHECK(ws.size() == 4, "weight: expected a 4-D (K, C/groups, R, S) array, got shape ",
            shape_str(ws));
  DLK_CHECK(groups >= 1, "groups: expected >= 1, got ", groups);
  Conv2dShape g{};
  g.N = xs[0], g.C = xs[1], g.H = xs[2], g.W = xs[3];
  g.O = ws[0], g.KH = ws[2], g.KW = ws[3], g.groups = groups;
  g.sh = stride[0], g.sw = stride[1], g.dh = dil[0], g.dw = dil[1];
  g.pt = pad[0], g.pb = pad[1], g.pl = pad[2], g.pr = pad[3];
  DLK_CHECK(g.C % groups == 0 && g.O % groups == 0, "groups: ", groups,
            " must divide the input channels ", g.C, " and the output channels ", g.O);
  DLK_CHECK(ws[1] == g.C / groups, "weight: expected shape ",
            shape_str({g.O, g.C / groups, g.KH, g.KW}), ", got ", shape_str(ws));
  DLK_CHECK(g.sh > 0 && g.sw > 0 && g.dh > 0 && g.dw > 0,
            "stride and dilation: expected positive values, got ", shape_str({g.sh, g.sw}), " and ",
            shape_str({g.dh, g.dw}));
  DLK_CHECK(g.pt >= 0 && g.pb >= 0 && g.pl >= 0 && g.pr >= 0,
            "padding: expected non-negative (top, bottom, left, right), got ",
            shape_str({g.pt, g.pb, g.pl, g.pr}));
  DLK_CHECK(g.KH > 0 && g.KW > 0, "weight: expected a non-empty kernel, got ", shape_str(ws));
  const int64_t eh = g.dh * (g.KH - 1) + 1, ew = g.dw * (g.KW - 1) + 1;
  DLK_CHECK(g.H + g.pt + g.pb >= eh && g.W + g.pl + g.pr >= ew, "the dilated kernel ",
            shape_str({eh, ew}), " is larger than the padded input ",
            shape_str({g.H + g.pt + g.pb, g.W + g.pl + g.pr}));
  g.OH = (g.H + g.pt + g.pb - eh) / g.sh + 1;
  g.OW = (g.W + g.pl + g.pr - ew) / g.sw + 1;
  return g;
}

}  // namespace

void bind_conv2d(py::module_& m) {
  // convolution (the CPU functions' interface)
  m.def(
      "conv2d_forward",
      [](const DeviceArray& x, const DeviceArray& w, OptArr b, Pair stride, Pad padding,
         Pair dilation, int64_t groups) {
        require_device();
        require_array(x, "x", DType::float32, {-1, -1, -1, -1});
        require_array(w, "w", DType::float32, {-1, -1, -1, -1});
        const Conv2dShape g = conv_geom(x.shape, w.shape, stride, padding, dilation, groups);
        if (b && *b) require_array(**b, "bias", DType::float32, {g.O});
        ArrayPtr y = new_array({g.N, g.O, g.OH, g.OW});
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
        const Conv2dShape g = conv_geom(xs, w.shape, stride, padding, dilation, groups);
        require_array(gy, "gy", DType::float32, {g.N, g.O, g.OH, g.OW});
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
        const Conv2dShape g = conv_geom(x.shape, ws, stride, padding, dilation, groups);
        require_array(gy, "gy", DType::float32, {g.N, g.O, g.OH, g.OW});
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
        Conv2dShape g{};
        g.N = gy.shape[0], g.O = gy.shape[1], g.OH = gy.shape[2], g.OW = gy.shape[3];
        ArrayPtr gb = new_array({g.O});
        conv2d_backward_bias(g, gy.f32(), gb->f32());
        return gb;
      },
      py::arg("gy"), "gb (O,) = gy summed over (n, oh, ow).");
}

}  // namespace dlk::cuda
