// The kernels of technical_block.hpp for any x86-64 (SSE2) or other CPU: the module's
// baseline flags, scalar V from simd.hpp.
#include "indicators_lanes.hpp"

#ifdef QUARTZ_ISA_AVX2
#error "technical_baseline.cpp must be built without QUARTZ_ISA_AVX2"
#endif

namespace quartz {

bool technical_block_baseline(const TechnicalBlock& io) { return ind::technical_block(io); }

void macd_row_baseline(const double* in, double* macd, double* sig, double* hist, std::ptrdiff_t n,
                       int fast, int slow, int signal) {
  ind::macd_row(in, macd, sig, hist, n, fast, slow, signal);
}

}  // namespace quartz
