// Compiles this package's CUDA kernels with a host C++ compiler, to run them on the CPU.
//
// Force-included (g++ -include cpu_shim.h) before a .cu file; `cuda_fp16.h` and `cuda_bf16.h`
// resolve to one-line stubs that include this file. A launch becomes loops over blockIdx and
// threadIdx that call the kernel as a plain function (see launch()), so the threads of a grid
// run one after the other and atomicAdd needs no atomicity. The half types keep their 16-bit
// storage and round like the device: float16 through _Float16, bfloat16 to nearest even.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

struct SnnShimDim3 {
  unsigned int x = 1, y = 1, z = 1;
};

inline SnnShimDim3 blockIdx, threadIdx, blockDim, gridDim;

struct __half {
  uint16_t bits;
};

struct __nv_bfloat16 {
  uint16_t bits;
};

inline float __half2float(__half value) {
  _Float16 h;
  std::memcpy(&h, &value.bits, sizeof(h));
  return static_cast<float>(h);
}

inline __half __float2half_rn(float value) {
  const _Float16 h = static_cast<_Float16>(value);  // round to nearest even
  __half out;
  std::memcpy(&out.bits, &h, sizeof(h));
  return out;
}

inline float __bfloat162float(__nv_bfloat16 value) {
  const uint32_t bits = static_cast<uint32_t>(value.bits) << 16;
  float out;
  std::memcpy(&out, &bits, sizeof(out));
  return out;
}

inline __nv_bfloat16 __float2bfloat16_rn(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  __nv_bfloat16 out;
  if (std::isnan(value)) {
    out.bits = 0x7fc0;
  } else {
    bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest, ties to even
    out.bits = static_cast<uint16_t>(bits >> 16);
  }
  return out;
}

inline float atomicAdd(float* address, float value) {
  const float old = *address;
  *address = old + value;
  return old;
}

// Runs `kernel(args...)` for every thread of a grid, one thread at a time.
template <typename Kernel, typename... Args>
void launch(SnnShimDim3 grid, SnnShimDim3 block, Kernel kernel, Args... args) {
  gridDim = grid;
  blockDim = block;
  for (unsigned int by = 0; by < grid.y; ++by) {
    for (unsigned int bx = 0; bx < grid.x; ++bx) {
      blockIdx.x = bx;
      blockIdx.y = by;
      for (unsigned int tx = 0; tx < block.x; ++tx) {
        threadIdx.x = tx;
        kernel(args...);
      }
    }
  }
}
