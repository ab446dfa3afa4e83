// dl_kernels._C: the CPU kernels. The interface is listed in csrc/python/README.md.
#include "python/cpu_bindings.h"

PYBIND11_MODULE(_C, m) {
  m.doc() = "dl_kernels CPU kernels (see csrc/python/README.md for the interface)";
  dlk::bind_config(m);
  dlk::bind_gemm(m);
  dlk::bind_softmax_xent(m);
  dlk::bind_lstm(m);
  dlk::bind_conv2d(m);
  dlk::bind_pool2d(m);
  dlk::bind_gru(m);
}
