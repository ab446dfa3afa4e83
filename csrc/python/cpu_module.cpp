// dl_kernels._C: the CPU kernels. The interface is listed in csrc/python/README.md.
#include "common/malloc_tuning.h"
#include "python/cpu_bindings.h"

PYBIND11_MODULE(_C, m) {
  m.doc() = "dl_kernels CPU kernels (see csrc/python/README.md for the interface)";
  // Activation-sized arrays are allocated and freed on every op: keep their pages for reuse
  // (common/malloc_tuning.h says why; DLK_MALLOC_TUNING=0 opts out).
  dlk::tune_malloc_for_reuse();
  dlk::bind_config(m);
  dlk::bind_gemm(m);
  dlk::bind_softmax_xent(m);
  dlk::bind_lstm(m);
  dlk::bind_conv2d(m);
  dlk::bind_pool2d(m);
  dlk::bind_gru(m);
  dlk::bind_word2vec(m);
  dlk::bind_optim_update(m);
  dlk::bind_index_add(m);
  dlk::bind_attention(m);
}
