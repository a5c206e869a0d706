// The kernels of technical_block.hpp for CPUs with AVX2 + FMA. CMakeLists.txt builds this file
// alone with -mavx2 -mfma and QUARTZ_ISA_AVX2 (x86-64 compilers only); isa_dispatch.cpp hands
// out its functions only after checking the CPU. Include nothing else here: inline code from
// any header outside the QUARTZ_ISA namespace would be AVX2 code the linker could share.
#include "indicators_lanes.hpp"

#ifndef QUARTZ_ISA_AVX2
#error "technical_avx2.cpp must be built with QUARTZ_ISA_AVX2 and -mavx2 -mfma"
#endif

namespace quartz {

bool technical_block_avx2(const TechnicalBlock& io) { return ind::technical_block(io); }

void macd_row_avx2(const double* in, double* macd, double* sig, double* hist, std::ptrdiff_t n,
                   int fast, int slow, int signal) {
  ind::macd_row(in, macd, sig, hist, n, fast, slow, signal);
}

}  // namespace quartz
