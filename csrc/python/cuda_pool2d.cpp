// Bindings of the CUDA max and average pooling (csrc/cuda/pool2d.cu). Arguments are DeviceArrays
// (float32; int64 for targets and argmax); every shape and dtype is checked here and a mismatch
// raises ValueError naming what was expected and what came. Results are new DeviceArrays.
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <optional>

#include "cuda/kernels.h"
#include "python/cuda_bindings.h"

namespace dlk::cuda {
namespace {

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

}  // namespace

void bind_pool2d(py::module_& m) {
  // pooling (the CPU functions' interface; padding may also be 4 per-side values)
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
}

}  // namespace dlk::cuda
