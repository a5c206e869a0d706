// Kernel files register their Python bindings by defining a static Registrar, so adding a
// kernel never touches module.cpp.
#pragma once

#include <pybind11/pybind11.h>

#include <vector>

namespace quartz {

using RegisterFn = void (*)(pybind11::module_&);

inline std::vector<RegisterFn>& registry() {
  static std::vector<RegisterFn> fns;
  return fns;
}

struct Registrar {
  explicit Registrar(RegisterFn fn) { registry().push_back(fn); }
};

}  // namespace quartz
