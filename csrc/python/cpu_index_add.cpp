// Binding for the row scatter-add (csrc/cpu/index_add.cpp).
#include <algorithm>
#include <string>
#include <vector>

#include "cpu/index_add.h"
#include "python/array_checks.h"
#include "python/cpu_bindings.h"

namespace py = pybind11;

namespace dlk {
namespace {

using namespace py_checks;

template <typename T>
py::array run_add_rows(int64_t rows,
                       py::array_t<int64_t, py::array::c_style | py::array::forcecast> index,
                       py::array values) {
  make_c_contiguous<T>(values, "values");
  const int64_t n = index.size();
  DLK_CHECK(values.ndim() == 2 && values.shape(0) == n, "index_add_rows: values: expected shape (",
            n, ", width) for ", n, " indices, got ", shape_str(shape_of(values)));
  const int64_t width = values.shape(1);
  require_allocatable({rows, width}, sizeof(T), "index_add_rows: out");
  std::vector<int64_t> idx(index.data(), index.data() + n);
  for (int64_t& r : idx) {
    if (r < -rows || r >= rows)
      throw py::index_error("index " + std::to_string(r) +
                            " is out of bounds for axis 0 with size " + std::to_string(rows));
    if (r < 0) r += rows;
  }
  py::array_t<T> out({rows, width});
  T* po = out.mutable_data();
  std::fill(po, po + rows * width, T(0));
  const T* pv = static_cast<const T*>(values.data());
  {
    py::gil_scoped_release release;
    cpu::add_rows<T>(n, width, idx.data(), pv, po);
  }
  return out;
}

}  // namespace

void bind_index_add(py::module_& m) {
  m.def(
      "index_add_rows",
      [](int64_t rows, py::array index, py::array values) {
        DLK_CHECK(rows >= 0, "index_add_rows: rows must be >= 0, got ", rows);
        DLK_CHECK(py::dtype(index.dtype()).kind() == 'i' || py::dtype(index.dtype()).kind() == 'u',
                  "index_add_rows: index: expected an integer array, got ", dtype_name(index));
        return is_float64(values, "values") ? run_add_rows<double>(rows, index, values)
                                            : run_add_rows<float>(rows, index, values);
      },
      py::arg("rows"), py::arg("index"), py::arg("values"),
      "zeros((rows, width)) with out[index[i]] += values[i] for every i in order (np.add.at over\n"
      "the first axis, bit for bit; negative indices count from the end): an embedding's\n"
      "backward.");
}

}  // namespace dlk
