// Argument checks at the kernel boundary.
//
// A failed check throws std::invalid_argument, which pybind11 turns into a Python ValueError.
// Messages name what was expected and what came, so a user can fix the call without reading C++.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace dlk {

inline void append_all(std::ostringstream&) {}
template <typename First, typename... Rest>
void append_all(std::ostringstream& os, const First& first, const Rest&... rest) {
  os << first;
  append_all(os, rest...);
}

template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream os;
  append_all(os, parts...);
  throw std::invalid_argument(os.str());
}

// "(2, 3, 4)": how shapes appear in messages, matching numpy's spelling.
inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) os << ", ";
    os << shape[i];
  }
  if (shape.size() == 1) os << ",";
  os << ")";
  return os.str();
}

}  // namespace dlk

#define DLK_CHECK(cond, ...)    \
  do {                          \
    if (!(cond)) {              \
      ::dlk::fail(__VA_ARGS__); \
    }                           \
  } while (0)
