// Bindings for the fused optimiser updates (csrc/cpu/optim_update.cpp): lists of arrays in,
// every array of the lists updated in place.
//
// Checks, each a ValueError naming the list and index: list lengths equal to len(params);
// float32 or float64, one dtype for the whole call; each array the shape of its parameter;
// arrays the update writes (params and state buffers) C-contiguous and writeable (no copy could
// be written back); gradients of any strides (copied when not C-contiguous, as every binding
// does with inputs); no written array sharing memory with another array of the call (an update
// would read what another has overwritten, and two threads could write the same element).
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cpu/optim_update.h"
#include "python/array_checks.h"
#include "python/cpu_bindings.h"

namespace py = pybind11;

namespace dlk {
namespace {

using namespace py_checks;

std::string type_name(const py::object& o) { return Py_TYPE(o.ptr())->tp_name; }

std::string item_name(const char* list, size_t i) {
  return std::string(list) + "[" + std::to_string(i) + "]";
}

// The items of a list argument (a list or tuple, None items kept as None), len(params) long.
std::vector<py::object> items_of(const py::object& seq, const char* name, size_t expected) {
  DLK_CHECK(py::isinstance<py::list>(seq) || py::isinstance<py::tuple>(seq), name,
            ": expected a list of arrays, got ", type_name(seq));
  std::vector<py::object> items;
  for (py::handle h : seq) items.push_back(py::reinterpret_borrow<py::object>(h));
  DLK_CHECK(expected == static_cast<size_t>(-1) || items.size() == expected, name,
            ": expected ", expected, " arrays (one per parameter), got ", items.size());
  return items;
}

py::array array_item(const py::object& o, const std::string& name) {
  DLK_CHECK(py::isinstance<py::array>(o), name, ": expected a numpy array, got ",
            type_name(o));
  return o.cast<py::array>();
}

// Arrays of one call, their names, and whether the update writes them, for the memory check.
struct Collected {
  std::vector<py::array> arrays;
  std::vector<std::string> names;
  std::vector<bool> written;

  void add(const py::array& a, std::string name, bool is_written) {
    arrays.push_back(a);
    names.push_back(std::move(name));
    written.push_back(is_written);
  }

  // No array the update writes shares a byte with any other array of the call (gradients, only
  // read, may share memory with each other). The spans sorted by start, each is compared with
  // the furthest-reaching span before it, and with the furthest-reaching written one.
  void require_disjoint() const {
    struct Span {
      const char *lo, *hi;
      size_t index;
    };
    std::vector<Span> spans;
    for (size_t i = 0; i < arrays.size(); ++i) {
      if (arrays[i].size() == 0) continue;
      const char* lo = static_cast<const char*>(arrays[i].data());
      spans.push_back({lo, lo + arrays[i].nbytes(), i});
    }
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
      return a.lo < b.lo || (a.lo == b.lo && a.index < b.index);
    });
    const Span* reach = nullptr;          // furthest-reaching span so far
    const Span* reach_written = nullptr;  // furthest-reaching written span so far
    for (const Span& s : spans) {
      const Span* other = written[s.index] ? reach : reach_written;
      DLK_CHECK(other == nullptr || s.lo >= other->hi, names[s.index], " shares memory with ",
                names[other->index], ": an array a fused update writes must be its own memory");
      if (!reach || s.hi > reach->hi) reach = &s;
      if (written[s.index] && (!reach_written || s.hi > reach_written->hi)) reach_written = &s;
    }
  }
};

// A parameter or state array the update writes: dtype T, C-contiguous, writeable, `shape`.
template <typename T>
py::array written_array(const py::object& o, const std::string& name,
                        const std::vector<int64_t>* shape, const char* shape_of_what) {
  py::array a = array_item(o, name);
  require_dtype<T>(a, name.c_str());
  if (shape)
    DLK_CHECK(shape_of(a) == *shape, name, ": expected shape ", shape_str(*shape), " (",
              shape_of_what, "), got ", shape_str(shape_of(a)));
  require_c_contiguous(a, name.c_str());
  require_writeable(a, name.c_str());
  return a;
}

// A gradient: dtype T, the parameter's shape, made C-contiguous (a copy only when needed).
template <typename T>
py::array grad_array(const py::object& o, const std::string& name,
                     const std::vector<int64_t>& shape, const std::string& param_name) {
  py::array a = array_item(o, name);
  require_dtype<T>(a, name.c_str());
  DLK_CHECK(shape_of(a) == shape, name, ": expected shape ", shape_str(shape), " (that of ",
            param_name, "), got ", shape_str(shape_of(a)));
  make_c_contiguous<T>(a, name.c_str());
  return a;
}

template <typename T>
T* data_of(const py::array& a) {
  return static_cast<T*>(const_cast<void*>(a.data()));
}

// The dtype of the call: that of params[0] (float32 or float64); float32 for an empty list.
bool call_is_float64(const std::vector<py::object>& params) {
  if (params.empty()) return false;
  return is_float64(array_item(params[0], "params[0]"), "params[0]");
}

template <typename T>
py::object sgd(const std::vector<py::object>& params, const py::object& grads_seq,
               const py::object& bufs_seq, const cpu::SgdOptions& o) {
  cpu::check_sgd_options(o);
  const size_t n = params.size();
  const std::vector<py::object> grads = items_of(grads_seq, "grads", n);
  const bool momentum = o.momentum != 0;
  std::vector<py::object> bufs(n, py::none());
  if (!bufs_seq.is_none()) bufs = items_of(bufs_seq, "momentum_buffers", n);
  Collected all;
  std::vector<cpu::SgdSlot<T>> slots;
  py::list out_bufs;
  for (size_t i = 0; i < n; ++i) {
    const std::string pname = item_name("params", i);
    py::array p = written_array<T>(params[i], pname, nullptr, nullptr);
    const std::vector<int64_t> shape = shape_of(p);
    py::array g = grad_array<T>(grads[i], item_name("grads", i), shape, pname);
    all.add(p, pname, true);
    all.add(g, item_name("grads", i), false);
    cpu::SgdSlot<T> s{data_of<T>(p), data_of<T>(g), nullptr, static_cast<int64_t>(p.size()),
                      false};
    if (momentum) {
      py::array b;
      if (bufs[i].is_none()) {  // no history yet: a new buffer, set to the gradient
        b = py::array_t<T>(std::vector<py::ssize_t>(shape.begin(), shape.end()));
        s.fresh = true;
      } else {
        b = written_array<T>(bufs[i], item_name("momentum_buffers", i), &shape,
                             ("that of " + pname).c_str());
        all.add(b, item_name("momentum_buffers", i), true);
      }
      s.momentum_buffer = data_of<T>(b);
      out_bufs.append(b);
    }
    slots.push_back(s);
  }
  all.require_disjoint();
  {
    py::gil_scoped_release release;
    cpu::sgd_update<T>(slots.data(), static_cast<int64_t>(slots.size()), o);
  }
  if (!momentum) return bufs_seq;
  return std::move(out_bufs);
}

template <typename T>
void adam(const std::vector<py::object>& params, const py::object& grads_seq,
          const py::object& m_seq, const py::object& v_seq, const py::object& vmax_seq,
          const std::vector<int64_t>& steps, const cpu::AdamOptions& o) {
  cpu::check_adam_options(o);
  const size_t n = params.size();
  const std::vector<py::object> grads = items_of(grads_seq, "grads", n);
  const std::vector<py::object> ms = items_of(m_seq, "exp_avgs", n);
  const std::vector<py::object> vs = items_of(v_seq, "exp_avg_sqs", n);
  std::vector<py::object> vmaxs;
  if (o.amsgrad) {
    DLK_CHECK(!vmax_seq.is_none(),
              "max_exp_avg_sqs: expected a list of arrays with amsgrad=True, got None");
    vmaxs = items_of(vmax_seq, "max_exp_avg_sqs", n);
  }
  DLK_CHECK(steps.size() == n, "steps: expected ", n, " step numbers (one per parameter), got ",
            steps.size());
  Collected all;
  std::vector<cpu::AdamSlot<T>> slots;
  for (size_t i = 0; i < n; ++i) {
    const std::string pname = item_name("params", i);
    const std::string of_param = "that of " + pname;
    py::array p = written_array<T>(params[i], pname, nullptr, nullptr);
    const std::vector<int64_t> shape = shape_of(p);
    py::array g = grad_array<T>(grads[i], item_name("grads", i), shape, pname);
    py::array m = written_array<T>(ms[i], item_name("exp_avgs", i), &shape, of_param.c_str());
    py::array v = written_array<T>(vs[i], item_name("exp_avg_sqs", i), &shape, of_param.c_str());
    all.add(p, pname, true);
    all.add(g, item_name("grads", i), false);
    all.add(m, item_name("exp_avgs", i), true);
    all.add(v, item_name("exp_avg_sqs", i), true);
    T* vmax = nullptr;
    if (o.amsgrad) {
      py::array x = written_array<T>(vmaxs[i], item_name("max_exp_avg_sqs", i), &shape,
                                     of_param.c_str());
      all.add(x, item_name("max_exp_avg_sqs", i), true);
      vmax = data_of<T>(x);
    }
    slots.push_back({data_of<T>(p), data_of<T>(g), data_of<T>(m), data_of<T>(v), vmax,
                     static_cast<int64_t>(p.size()), steps[i]});
  }
  all.require_disjoint();
  py::gil_scoped_release release;
  cpu::adam_update<T>(slots.data(), static_cast<int64_t>(slots.size()), o);
}

}  // namespace

void bind_optim_update(py::module_& m) {
  m.def(
      "sgd_update",
      [](const py::object& params, const py::object& grads, const py::object& momentum_buffers,
         double lr, double momentum, double dampening, double weight_decay, bool nesterov,
         bool maximize) {
        const std::vector<py::object> ps = items_of(params, "params", static_cast<size_t>(-1));
        cpu::SgdOptions o;
        o.lr = lr;
        o.momentum = momentum;
        o.dampening = dampening;
        o.weight_decay = weight_decay;
        o.nesterov = nesterov;
        o.maximize = maximize;
        return call_is_float64(ps) ? sgd<double>(ps, grads, momentum_buffers, o)
                                   : sgd<float>(ps, grads, momentum_buffers, o);
      },
      py::arg("params"), py::arg("grads"), py::arg("momentum_buffers") = py::none(),
      py::kw_only(), py::arg("lr"), py::arg("momentum") = 0.0, py::arg("dampening") = 0.0,
      py::arg("weight_decay") = 0.0, py::arg("nesterov") = false, py::arg("maximize") = false,
      "One SGD step (torch.optim.SGD's rule) over every parameter, in place.\n"
      "momentum_buffers: None or a list with an array or None per parameter; a None buffer is\n"
      "created and set to the gradient (the first step). Returns the list of buffers (the new\n"
      "ones included) when momentum != 0, else momentum_buffers as given.");
  m.def(
      "adam_update",
      [](const py::object& params, const py::object& grads, const py::object& exp_avgs,
         const py::object& exp_avg_sqs, const py::object& max_exp_avg_sqs,
         const std::vector<int64_t>& steps, double lr, double beta1, double beta2, double eps,
         double weight_decay, bool amsgrad, bool maximize, bool decoupled_weight_decay) {
        const std::vector<py::object> ps = items_of(params, "params", static_cast<size_t>(-1));
        cpu::AdamOptions o;
        o.lr = lr;
        o.beta1 = beta1;
        o.beta2 = beta2;
        o.eps = eps;
        o.weight_decay = weight_decay;
        o.amsgrad = amsgrad;
        o.maximize = maximize;
        o.decoupled_weight_decay = decoupled_weight_decay;
        if (call_is_float64(ps))
          adam<double>(ps, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, o);
        else
          adam<float>(ps, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, o);
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
      py::arg("max_exp_avg_sqs"), py::arg("steps"), py::kw_only(), py::arg("lr"),
      py::arg("beta1") = 0.9, py::arg("beta2") = 0.999, py::arg("eps") = 1e-8,
      py::arg("weight_decay") = 0.0, py::arg("amsgrad") = false, py::arg("maximize") = false,
      py::arg("decoupled_weight_decay") = false,
      "One Adam step (torch.optim.Adam's rule; AdamW's with decoupled_weight_decay=True) over\n"
      "every parameter, in place. steps: each parameter's step number t >= 1 for this step\n"
      "(already incremented); max_exp_avg_sqs: a list with amsgrad, else None.");
  m.def("set_optim_update_rung", &cpu::set_optim_update_rung, py::arg("name"),
        "Force 'portable' or 'avx2' (the builds of the update loops), or 'auto'.");
  m.def("get_optim_update_rung", []() { return std::string(cpu::optim_update_rung()); },
        "'avx2' or 'portable': the build of the update loops that runs now.");
}

}  // namespace dlk
