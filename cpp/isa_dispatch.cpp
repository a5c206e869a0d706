// Run-time choice of the lane-kernel variant (technical_block.hpp) and its Python view:
// _native.isa(), _native.isa_info() and the _native.IsaError exception.
#include <cstdlib>
#include <string>

#include <pybind11/stl.h>

#include "registry.hpp"
#include "technical_block.hpp"

namespace quartz {

namespace {

namespace py = pybind11;

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  // libgcc's check also requires the OS to save YMM state (XGETBV), not just the CPUID bits.
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

constexpr bool kAvx2Compiled =
#ifdef QUARTZ_HAVE_AVX2_VARIANT
    true;
#else
    false;
#endif

// QUARTZ_NATIVE_ISA, read once per process: "" (unset) means auto.
const std::string& env_override() {
  static const std::string value = [] {
    const char* v = std::getenv("QUARTZ_NATIVE_ISA");
    return std::string(v ? v : "");
  }();
  return value;
}

std::string avx2_unavailable_reason() {
  if (!kAvx2Compiled)
    return "this build has no AVX2 variant (the compiler does not target x86-64 or refused "
           "-mavx2 -mfma)";
  if (!cpu_has_avx2_fma()) return "this CPU lacks AVX2/FMA";
  if (env_override() == "baseline") return "QUARTZ_NATIVE_ISA=baseline forbids it";
  return "";
}

py::dict isa_info() {
  py::dict d;
  py::list compiled;
  compiled.append("baseline");
  if (kAvx2Compiled) compiled.append("avx2");
  d["compiled"] = compiled;
  d["cpu_avx2_fma"] = cpu_has_avx2_fma();
  d["override"] = env_override().empty() ? py::object(py::none()) : py::str(env_override());
  const std::string reason = avx2_unavailable_reason();
  d["avx2_unavailable"] = reason.empty() ? py::object(py::none()) : py::str(reason);
  return d;
}

void register_isa(py::module_& m) {
  py::register_exception<IsaError>(m, "IsaError", PyExc_RuntimeError);
  m.def("isa", [] { return resolve_isa("auto"); },
        "The lane-kernel variant technical_batch(isa='auto') runs here: 'avx2' or 'baseline'.");
  m.def("isa_info", &isa_info,
        "Variants compiled in, whether the CPU has AVX2+FMA, the QUARTZ_NATIVE_ISA override "
        "and why AVX2 cannot run (None when it can).");
}

Registrar isa_registrar(register_isa);

}  // namespace

std::string resolve_isa(const std::string& isa) {
  if (isa != "auto" && isa != "avx2" && isa != "baseline")
    throw std::invalid_argument("isa must be 'auto', 'avx2' or 'baseline', not '" + isa + "'");
  const std::string& env = env_override();
  if (!env.empty() && env != "auto" && env != "avx2" && env != "baseline")
    throw IsaError("QUARTZ_NATIVE_ISA must be auto, avx2 or baseline, not '" + env + "'");
  const std::string wanted = isa == "auto" && !env.empty() ? env : isa;
  if (wanted == "baseline") return wanted;
  const std::string reason = avx2_unavailable_reason();
  if (wanted == "avx2" && !reason.empty())
    throw IsaError("the AVX2 kernels cannot run: " + reason +
                   (isa == "auto" ? " (QUARTZ_NATIVE_ISA=avx2 asked for them)"
                                  : "; use isa='auto' or 'baseline'"));
  return reason.empty() ? "avx2" : "baseline";
}

TechnicalBlockFn technical_block_for(const std::string& resolved) {
#ifdef QUARTZ_HAVE_AVX2_VARIANT
  if (resolved == "avx2") return &technical_block_avx2;
#endif
  return &technical_block_baseline;
}

MacdRowFn macd_row_for(const std::string& resolved) {
#ifdef QUARTZ_HAVE_AVX2_VARIANT
  if (resolved == "avx2") return &macd_row_avx2;
#endif
  return &macd_row_baseline;
}

}  // namespace quartz
