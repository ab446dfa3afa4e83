// The activations a kernel can apply to its output as it writes it (a GEMM epilogue, the
// convolution's bias pass), so that Linear + ReLU or conv + bias + ReLU is one pass over memory.
#pragma once

#include <cstdint>
#include <string>

namespace dlk::cpu {

enum class Activation { None, Relu, Tanh, Sigmoid };

// "none", "relu", "tanh", "sigmoid"; anything else is a ValueError naming the choices.
Activation activation_from_name(const std::string& name);

// The gradient through y = act(z + bias), from the output y: gz = g * act'(y) (relu: y > 0,
// tanh: 1 - y^2, sigmoid: y (1 - y); the same products as the unfused ops, so a NaN in g
// stays NaN), over M rows of N; and, when gb is not null, the bias gradient gb[j] = sum_i
// gz[i, j], summed in double. gz may be g (in place).
template <typename T>
void activation_backward(Activation act, int64_t M, int64_t N, const T* g, const T* y, T* gz,
                         T* gb);

}  // namespace dlk::cpu
