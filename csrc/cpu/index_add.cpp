// out[index[i], :] += values[i, :] (index_add.h). One thread, rows in order: the sums are
// np.add.at's bit for bit and the same on every run, and an embedding's backward (a few
// thousand rows of 64-300 values) takes tens of microseconds, where np.add.at's per-element
// dispatch took milliseconds.
#include "cpu/index_add.h"

namespace dlk::cpu {

template <typename T>
void add_rows(int64_t n, int64_t width, const int64_t* index, const T* values, T* out) {
  for (int64_t i = 0; i < n; ++i) {
    T* o = out + index[i] * width;
    const T* v = values + i * width;
    for (int64_t j = 0; j < width; ++j) o[j] += v[j];
  }
}

template void add_rows<float>(int64_t, int64_t, const int64_t*, const float*, float*);
template void add_rows<double>(int64_t, int64_t, const int64_t*, const double*, double*);

}  // namespace dlk::cpu
