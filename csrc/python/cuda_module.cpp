// dl_kernels._cuda: device basics (devices, DeviceArray, copies, stream, allocator) and the
// kernel families. Importing it never touches the GPU; device_count() reports 0 and
// last_error_message() the reason where there is no driver or no device.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstring>
#include <mutex>

#include "cuda/kernels.h"
#include "python/cuda_bindings.h"

namespace dlk::cuda {

void require_device() {
  static std::once_flag once;
  static int count = 0;
  std::call_once(once, [] { count = device_count(); });
  if (count == 0)
    throw std::runtime_error("no CUDA device is available (" + last_error_message() + ")");
}

namespace {

DType parse_dtype(const std::string& s) {
  if (s == "float32") return DType::float32;
  if (s == "int64") return DType::int64;
  fail("dtype: expected 'float32' or 'int64', got '", s, "'");
}

DType dtype_of(const py::array& a) {
  if (a.dtype().is(py::dtype::of<float>())) return DType::float32;
  if (a.dtype().is(py::dtype::of<int64_t>())) return DType::int64;
  fail("expected a numpy array of dtype float32 or int64, got ",
       py::str(a.dtype()).cast<std::string>());
}

std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

void require_c_contiguous(const py::array& a) {
  DLK_CHECK(a.flags() & py::array::c_style,
            "expected a C-contiguous numpy array (use numpy.ascontiguousarray)");
}

void upload(DeviceArray& dst, const py::array& src) {
  require_device();
  const size_t bytes = dst.nbytes();
  if (bytes == 0) return;
  const void* p = src.data();
  py::gil_scoped_release release;
  // From pageable memory the call returns once the data is staged, so `src` may go away.
  DLK_CUDA_CHECK(cudaMemcpyAsync(dst.data(), p, bytes, cudaMemcpyHostToDevice, stream()));
}

py::array download(const DeviceArray& a) {
  require_device();
  py::array out = a.dtype == DType::float32 ? py::array(py::dtype::of<float>(), a.shape)
                                            : py::array(py::dtype::of<int64_t>(), a.shape);
  const size_t bytes = a.nbytes();
  if (bytes) {
    void* p = out.mutable_data();
    py::gil_scoped_release release;
    DLK_CUDA_CHECK(cudaMemcpyAsync(p, a.data(), bytes, cudaMemcpyDeviceToHost, stream()));
    DLK_CUDA_CHECK(cudaStreamSynchronize(stream()));
  }
  return out;
}

std::vector<int64_t> to_shape(const py::object& shape) {
  if (py::isinstance<py::int_>(shape)) return {shape.cast<int64_t>()};
  std::vector<int64_t> s = shape.cast<std::vector<int64_t>>();
  for (int64_t d : s) DLK_CHECK(d >= 0, "shape: expected non-negative sizes, got ", shape_str(s));
  return s;
}

ArrayPtr make(const py::object& shape, const std::string& dtype) {
  require_device();
  return new_array(to_shape(shape), parse_dtype(dtype));
}

}  // namespace

void bind_runtime(py::module_& m) {
  m.def("device_count", &device_count,
        "Number of CUDA devices; 0 (never an error) without a driver or a GPU.");
  m.def("last_error_message", &last_error_message,
        "Why device_count() returned 0 (empty when devices were found).");
  m.def(
      "device_name",
      [](int i) {
        require_device();
        return device_name(i);
      },
      py::arg("device") = 0);
  m.def(
      "memory_info",
      []() {
        require_device();
        size_t free_b = 0, total_b = 0;
        memory_info(free_b, total_b);
        return py::make_tuple(free_b, total_b);
      },
      "(free, total) bytes of the current device.");
  m.def("build_info", []() {
    py::dict d;
    d["archs"] = std::string(DLK_CUDA_ARCHS);
    d["compiler"] = std::string(DLK_CUDA_COMPILER);
    int rt = 0;
    cudaRuntimeGetVersion(&rt);  // the static runtime's own version; needs no driver
    d["runtime"] = std::to_string(rt / 1000) + "." + std::to_string((rt % 1000) / 10);
    return d;
  });
  m.def(
      "synchronize",
      []() {
        require_device();
        py::gil_scoped_release release;
        synchronize();
      },
      "Wait until every kernel and copy queued on the library's stream has finished.");
  m.def(
      "empty_cache",
      []() {
        require_device();
        empty_cache();
      },
      "Return the allocator's cached blocks to the driver (cudaFree).");
  m.def("allocator_stats", []() {
    AllocatorStats s = allocator_stats();
    py::dict d;
    d["in_use_bytes"] = s.in_use_bytes;
    d["cached_bytes"] = s.cached_bytes;
    d["peak_in_use_bytes"] = s.peak_in_use_bytes;
    d["malloc_calls"] = s.malloc_calls;
    d["cache_hits"] = s.cache_hits;
    return d;
  });

  // CUDA events on the library's stream, for benchmarks (bench/bench_cuda.py).
  struct Event {
    cudaEvent_t ev = nullptr;
    Event() {
      require_device();
      DLK_CUDA_CHECK(cudaEventCreate(&ev));
    }
    ~Event() {
      if (ev) cudaEventDestroy(ev);
    }
  };
  py::class_<Event, std::shared_ptr<Event>>(m, "Event",
                                            "A CUDA event recorded on the library's stream.")
      .def(py::init<>())
      .def("record", [](Event& e) { DLK_CUDA_CHECK(cudaEventRecord(e.ev, stream())); })
      .def("synchronize",
           [](Event& e) {
             py::gil_scoped_release release;
             DLK_CUDA_CHECK(cudaEventSynchronize(e.ev));
           })
      .def(
          "elapsed_ms",
          [](const Event& start, const Event& end) {
            float ms = 0.f;
            DLK_CUDA_CHECK(cudaEventElapsedTime(&ms, start.ev, end.ev));
            return ms;
          },
          py::arg("end"), "Milliseconds from this event to `end` (both recorded and complete).");

  py::class_<DeviceArray, ArrayPtr>(m, "DeviceArray",
                                    "A C-contiguous float32 or int64 array in GPU memory.")
      .def_property_readonly("shape",
                             [](const DeviceArray& a) { return py::tuple(py::cast(a.shape)); })
      .def_property_readonly("dtype",
                             [](const DeviceArray& a) { return std::string(dtype_name(a.dtype)); })
      .def_property_readonly("size", &DeviceArray::size)
      .def_property_readonly("ndim", &DeviceArray::ndim)
      .def_property_readonly("nbytes", &DeviceArray::nbytes)
      .def_property_readonly(
          "ptr", [](const DeviceArray& a) { return reinterpret_cast<uintptr_t>(a.data()); })
      .def("numpy", &download, "Copy to a new numpy array (waits for queued work).")
      .def(
          "copy_from_numpy",
          [](DeviceArray& a, py::array src) {
            DLK_CHECK(dtype_of(src) == a.dtype, "copy_from_numpy: expected dtype ",
                      dtype_name(a.dtype), ", got ", py::str(src.dtype()).cast<std::string>());
            DLK_CHECK(shape_of(src) == a.shape, "copy_from_numpy: expected shape ",
                      shape_str(a.shape), ", got ", shape_str(shape_of(src)));
            require_c_contiguous(src);
            upload(a, src);
          },
          py::arg("src"))
      .def(
          "reshape",
          [](const DeviceArray& a, const py::object& shape) {
            std::vector<int64_t> s = to_shape(shape);
            DeviceArray v(a.storage, a.offset_bytes, s, a.dtype);
            DLK_CHECK(v.size() == a.size(), "reshape: cannot view ", shape_str(a.shape), " as ",
                      shape_str(s));
            return std::make_shared<DeviceArray>(v);
          },
          py::arg("shape"), "A view with another shape, sharing the memory.")
      .def("__repr__", [](const DeviceArray& a) {
        return "DeviceArray(shape=" + shape_str(a.shape) + ", dtype=" + dtype_name(a.dtype) + ")";
      });

  m.def(
      "from_numpy",
      [](py::array a) {
        const DType dt = dtype_of(a);
        require_c_contiguous(a);
        require_device();
        ArrayPtr d = new_array(shape_of(a), dt);
        upload(*d, a);
        return d;
      },
      py::arg("array"), "Copy a C-contiguous float32 or int64 numpy array to the GPU.");
  m.def("empty", &make, py::arg("shape"), py::arg("dtype") = "float32",
        "Uninitialised device array (from the caching allocator).");
  m.def(
      "zeros",
      [](const py::object& shape, const std::string& dtype) {
        ArrayPtr a = make(shape, dtype);
        if (a->dtype == DType::float32)
          fill_f32(a->f32(), a->size(), 0.f);
        else
          fill_i64(a->i64(), a->size(), 0);
        return a;
      },
      py::arg("shape"), py::arg("dtype") = "float32");
  m.def(
      "fill",
      [](DeviceArray& a, double value) {
        require_device();
        if (a.dtype == DType::float32)
          fill_f32(a.f32(), a.size(), static_cast<float>(value));
        else
          fill_i64(a.i64(), a.size(), static_cast<int64_t>(value));
      },
      py::arg("x"), py::arg("value"), "Set every element of x to value (in place).");
  m.def(
      "copy",
      [](DeviceArray& dst, const DeviceArray& src) {
        require_device();
        DLK_CHECK(dst.dtype == src.dtype, "copy: dst has dtype ", dtype_name(dst.dtype),
                  ", src has ", dtype_name(src.dtype));
        DLK_CHECK(dst.shape == src.shape, "copy: dst has shape ", shape_str(dst.shape),
                  ", src has ", shape_str(src.shape));
        copy_bytes(dst.data(), src.data(), src.nbytes());
      },
      py::arg("dst"), py::arg("src"), "dst[...] = src (device to device).");
  m.def(
      "transpose",
      [](const DeviceArray& x) {
        require_device();
        require_array(x, "x", DType::float32, {-1, -1});
        ArrayPtr y = new_array({x.shape[1], x.shape[0]});
        transpose_f32(x.f32(), y->f32(), x.shape[0], x.shape[1]);
        return y;
      },
      py::arg("x"), "New 2-D float32 array x.T.");
}

}  // namespace dlk::cuda

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "dl_kernels CUDA kernels (float32) and device arrays";
  dlk::cuda::bind_runtime(m);
  dlk::cuda::bind_gemm(m);
  dlk::cuda::bind_elementwise(m);
  dlk::cuda::bind_softmax_xent(m);
  dlk::cuda::bind_pool2d(m);
  dlk::cuda::bind_conv2d(m);
  dlk::cuda::bind_rnn(m);
}
