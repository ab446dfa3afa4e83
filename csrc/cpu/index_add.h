// Rows added into a table at given row indices: out[index[i], :] += values[i, :] for i in
// order (numpy's np.add.at over the first axis; the backward of an embedding lookup).
#pragma once

#include <cstdint>

namespace dlk::cpu {

// index: n row numbers already in [0, rows); values: n x width; out: rows x width.
template <typename T>
void add_rows(int64_t n, int64_t width, const int64_t* index, const T* values, T* out);

}  // namespace dlk::cpu
