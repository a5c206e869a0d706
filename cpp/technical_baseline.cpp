// The lane kernels for any x86-64 (SSE2) or other CPU: compiled with the module's baseline
// flags, scalar V from simd.hpp.
#include "indicators_lanes.hpp"

#ifdef QUARTZ_ISA_AVX2
#error "technical_baseline.cpp must be built without QUARTZ_ISA_AVX2"
#endif

namespace quartz {

bool technical_block_baseline(const TechnicalBlock& io) { return ind::technical_block(io); }

}  // namespace quartz
