// The quartz_cli._native extension: every kernel file adds its functions through registry.hpp.
#include "registry.hpp"

PYBIND11_MODULE(_native, m) {
  m.doc() = "Quartz native numeric kernels (batch indicators and statistics).";
  for (auto fn : quartz::registry()) fn(m);
}
