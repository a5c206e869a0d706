// The quartz_cli._native extension: each kernel file registers its functions here.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace quartz {
void register_sma(py::module_& m);
}

PYBIND11_MODULE(_native, m) {
  m.doc() = "Quartz native numeric kernels (batch indicators and statistics).";
  quartz::register_sma(m);
}
