// Each kernel family binds itself into dl_kernels._C through one function, defined in its own
// csrc/python/cpu_<family>.cpp and called from cpu_module.cpp.
#pragma once

#include <pybind11/pybind11.h>

namespace dlk {
void bind_config(pybind11::module_& m);
void bind_gemm(pybind11::module_& m);
void bind_softmax_xent(pybind11::module_& m);
void bind_lstm(pybind11::module_& m);
void bind_gru(pybind11::module_& m);
void bind_word2vec(pybind11::module_& m);
void bind_conv2d(pybind11::module_& m);
void bind_pool2d(pybind11::module_& m);
void bind_optim_update(pybind11::module_& m);
void bind_index_add(pybind11::module_& m);
void bind_attention(pybind11::module_& m);
}  // namespace dlk
