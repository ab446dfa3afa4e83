// Bindings for word2vec training (csrc/cpu/word2vec.cpp).
#include <pybind11/stl.h>

#include <cmath>
#include <string>

#include "common/parallel.h"
#include "cpu/word2vec.h"
#include "python/array_checks.h"
#include "python/cpu_bindings.h"

namespace py = pybind11;

namespace dlk {
namespace {

using namespace py_checks;

py::dict train(py::array corpus, py::array counts, py::array win, py::array wout,
               const std::string& arch, const std::string& loss, int64_t window, int64_t negative,
               double sample, double alpha, double min_alpha, int64_t words_done,
               int64_t words_total, py::object threads, uint64_t seed, const std::string& rung,
               bool trace) {
  require_dtype<int32_t>(corpus, "corpus");
  require_ndim(corpus, 1, "corpus");
  require_c_contiguous(corpus, "corpus");
  require_dtype<int64_t>(counts, "counts");
  require_ndim(counts, 1, "counts");
  require_c_contiguous(counts, "counts");
  const int64_t V = counts.shape(0);
  DLK_CHECK(V >= 1, "counts: expected at least one word, got an empty vocabulary");
  for (const auto* name : {"win", "wout"}) {
    const py::array& a = std::string(name) == "win" ? win : wout;
    require_dtype<float>(a, name);
    require_ndim(a, 2, name);
    require_c_contiguous(a, name);
    require_writeable(a, name);
  }
  require_shape(win, {V, -1}, "win");
  require_shape(wout, shape_of(win), "wout");
  const int64_t D = win.shape(1);
  DLK_CHECK(D >= 1, "win: expected at least one dimension, got shape ", shape_str(shape_of(win)));
  DLK_CHECK(!overlaps(win, wout), "win and wout must not share memory");
  DLK_CHECK(V < (int64_t{1} << 31), "counts: vocabulary too large for int32 ids: ", V);
  DLK_CHECK(arch == "skipgram" || arch == "cbow", "arch: expected 'skipgram' or 'cbow', got '",
            arch, "'");
  DLK_CHECK(loss == "negative" || loss == "softmax",
            "loss: expected 'negative' (negative sampling) or 'softmax' (sampled softmax), got '",
            loss, "'");
  DLK_CHECK(window >= 1 && window <= 1000, "window: expected 1..1000, got ", window);
  DLK_CHECK(negative >= 1 && negative <= 1000, "negative: expected 1..1000, got ", negative);
  DLK_CHECK(sample >= 0 && std::isfinite(sample), "sample: expected a finite value >= 0, got ",
            sample);
  DLK_CHECK(alpha > 0 && std::isfinite(alpha), "alpha: expected a finite value > 0, got ", alpha);
  DLK_CHECK(min_alpha >= 0 && min_alpha <= alpha, "min_alpha: expected 0 <= min_alpha <= alpha (",
            alpha, "), got ", min_alpha);
  DLK_CHECK(words_done >= 0 && words_total >= 0, "words_done and words_total must be >= 0, got ",
            words_done, " and ", words_total);
  int nt = threads.is_none() ? num_threads() : threads.cast<int>();
  DLK_CHECK(nt >= 1, "threads: expected >= 1, got ", nt);
  const auto r = cpu::word2vec_rung_from_name(rung);
  DLK_CHECK(!trace || (r == cpu::Word2VecRung::Reference && nt == 1),
            "trace: only the reference rung on one thread records its steps (got rung '", rung,
            "', ", nt, " threads)");

  const int64_t* pc = static_cast<const int64_t*>(counts.data());
  int64_t total_count = 0;
  for (int64_t w = 0; w < V; ++w) {
    DLK_CHECK(pc[w] >= 0, "counts: expected counts >= 0, got ", pc[w], " for word ", w);
    total_count += pc[w];
  }
  DLK_CHECK(total_count > 0, "counts: expected a positive total, got all zeros");
  const int64_t n = corpus.shape(0);
  const int32_t* ids = static_cast<const int32_t*>(corpus.data());
  for (int64_t i = 0; i < n; ++i)
    DLK_CHECK(ids[i] >= -1 && ids[i] < V, "corpus: expected word ids in [0, ", V,
              ") or -1 (sentence boundary), got ", ids[i], " at position ", i);

  cpu::Word2VecConfig cfg;
  cfg.cbow = arch == "cbow";
  cfg.sampled_softmax = loss == "softmax";
  cfg.window = window;
  cfg.negative = negative;
  cfg.sample = sample;
  cfg.alpha = alpha;
  cfg.min_alpha = min_alpha;
  cfg.words_done = words_done;
  cfg.words_total = words_total;
  cfg.threads = nt;
  cfg.seed = seed;
  cfg.rung = r;
  cpu::Word2VecTrace tr;
  cpu::Word2VecStats s;
  {
    py::gil_scoped_release release;
    s = cpu::word2vec_train(cfg, ids, n, pc, V, D, static_cast<float*>(win.mutable_data()),
                            static_cast<float*>(wout.mutable_data()), trace ? &tr : nullptr);
  }
  py::dict out;
  out["words"] = s.words;
  out["examples"] = s.examples;
  out["loss"] = s.loss;
  out["loss_count"] = s.loss_count;
  out["alpha"] = s.final_alpha;
  if (trace) {
    out["input_offsets"] = py::array_t<int64_t>(tr.input_offsets.size(), tr.input_offsets.data());
    out["inputs"] = py::array_t<int32_t>(tr.inputs.size(), tr.inputs.data());
    out["outputs"] = py::array_t<int32_t>(tr.outputs.size(), tr.outputs.data());
    out["lr"] = py::array_t<float>(tr.lr.size(), tr.lr.data());
  }
  return out;
}

}  // namespace

void bind_word2vec(py::module_& m) {
  m.def("word2vec_train", &train, py::arg("corpus"), py::arg("counts"), py::arg("win"),
        py::arg("wout"), py::kw_only(), py::arg("arch") = "skipgram", py::arg("loss") = "negative",
        py::arg("window") = 5, py::arg("negative") = 5, py::arg("sample") = 1e-3,
        py::arg("alpha") = 0.025, py::arg("min_alpha") = 1e-4, py::arg("words_done") = 0,
        py::arg("words_total") = 0, py::arg("threads") = py::none(), py::arg("seed") = 1,
        py::arg("rung") = "auto", py::arg("trace") = false,
        "One pass of word2vec SGD over corpus (int32 ids, -1 = sentence boundary), updating\n"
        "win and wout (float32 (V, D)) in place; counts (int64 (V,)) drive sub-sampling and the\n"
        "noise distribution. The learning rate decays linearly from alpha at words_done to\n"
        "min_alpha at words_total. Returns {'words', 'examples', 'loss', 'loss_count', 'alpha'};\n"
        "with trace=True (reference rung, one thread) also the steps taken: 'input_offsets',\n"
        "'inputs', 'outputs' (K+1 per step, true word first), 'lr'.");
  m.def(
      "word2vec_fast_isa", []() { return std::string(cpu::word2vec_fast_isa()); },
      "The instruction set the fast word2vec rung runs on here: avx512, avx2 or portable.");
}

}  // namespace dlk
