// The lane kernels for CPUs with AVX2 + FMA. CMakeLists.txt builds this file alone with
// -mavx2 -mfma and QUARTZ_ISA_AVX2 (x86-64 compilers only); technical_block_for calls it only
// after checking the CPU. Nothing else here: any inline code it pulled in would be AVX2 code.
#include "indicators_lanes.hpp"

#ifndef QUARTZ_ISA_AVX2
#error "technical_avx2.cpp must be built with QUARTZ_ISA_AVX2 and -mavx2 -mfma"
#endif

namespace quartz {

bool technical_block_avx2(const TechnicalBlock& io) { return ind::technical_block(io); }

}  // namespace quartz
