// Fused multi-step LIF neuron: a forward pass over T steps and a reverse-time backward pass.
//
// Layout: every sequence is [T, N] (time-major, contiguous), N = neurons per step. One thread
// owns V neighbouring neurons and loops over T, so the membrane potential stays in registers;
// V is chosen on the host so that one access of the input type is 16 bytes (4 floats, 8 halves)
// when N and the pointers allow it, else 1.
//
// Math (float32 whatever the storage type; the same expressions, in the same order, as the
// torch reference in reference.py, so spikes agree bit for bit):
//   charge   h[t] = v + (x[t] - (v - vr)) / tau        (decay_input)
//            h[t] = v - (v - vr) / tau + x[t]          (otherwise); vr = v_reset, or 0 (soft)
//   fire     s[t] = (h[t] >= v_threshold)              equals the reference's
//                                                     (h - v_threshold >= 0) for every float,
//                                                     and is immune to flushed denormals
//   reset    v    = s ? v_reset : h                    (hard)
//            v    = h - s * v_threshold                (soft)
// The forward writes s and the post-reset v of every step and keeps h (float32) for the
// backward, which recomputes s and the surrogate gradient sg(h - v_threshold) from it.

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace snn {

// Bits of the `flags` argument.
constexpr int kDecayInput = 1;
constexpr int kHardReset = 2;
constexpr int kDetachReset = 4;

// Surrogate ids (template argument of the backward); constants (a, b) are set by the host.
constexpr int kTriangle = 0;   // max(0, a - b |x|)         a = alpha, b = alpha^2
constexpr int kRectangle = 1;  // a if |x| < b else 0       a = alpha, b = 0.5 / alpha
constexpr int kAtan = 2;       // a / (1 + (b x)^2)         a = alpha / 2, b = pi / 2 * alpha
constexpr int kSigmoid = 3;    // a sig(a x) (1 - sig(a x))  a = alpha

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// V values moved as one aligned access (16 bytes for the vector widths the host picks).
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <typename T, int V>
__device__ __forceinline__ Pack<T, V> load(const T* p) {
  return *reinterpret_cast<const Pack<T, V>*>(p);
}

template <typename T, int V>
__device__ __forceinline__ void store(T* p, const Pack<T, V>& value) {
  *reinterpret_cast<Pack<T, V>*>(p) = value;
}

template <int SG>
__device__ __forceinline__ float surrogate_grad(float x, float a, float b) {
  static_assert(SG >= kTriangle && SG <= kSigmoid, "unknown surrogate id");
  if (SG == kTriangle) return fmaxf(0.0f, a - b * fabsf(x));
  if (SG == kRectangle) return fabsf(x) < b ? a : 0.0f;
  if (SG == kAtan) {
    const float z = b * x;
    return a / (1.0f + z * z);
  }
  const float s = 1.0f / (1.0f + expf(-a * x));
  return a * s * (1.0f - s);
}

// x, spike, v_seq: [T, N] of T; h_seq: [T, N] float32; v_init, v_last: [N] float32.
// v_seq and h_seq may be null (not stored). N must be a multiple of V.
template <typename T, int V>
__global__ void lif_forward(const T* __restrict__ x, const float* __restrict__ v_init,
                            T* __restrict__ spike, T* __restrict__ v_seq,
                            float* __restrict__ h_seq, float* __restrict__ v_last, int steps,
                            long long n, float tau, float v_threshold, float v_reset,
                            int flags) {
  const long long i = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) * V;
  if (i >= n) return;
  const bool decay_input = flags & kDecayInput;
  const bool hard = flags & kHardReset;
  const float vr = hard ? v_reset : 0.0f;  // soft reset charges towards 0

  Pack<float, V> v = load<float, V>(v_init + i);
  Pack<T, V> x_now = load<T, V>(x + i);
  for (int t = 0; t < steps; ++t) {
    const long long at = static_cast<long long>(t) * n + i;
    // issue the next step's load before this step's arithmetic
    Pack<T, V> x_next = x_now;
    if (t + 1 < steps) x_next = load<T, V>(x + at + n);
    Pack<T, V> s_out, v_out;
    Pack<float, V> h_out;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float xk = to_float(x_now.v[k]);
      const float vk = v.v[k];
      const float h = decay_input ? vk + (xk - (vk - vr)) / tau : vk - (vk - vr) / tau + xk;
      const bool fire = h >= v_threshold;
      const float after = fire ? (hard ? v_reset : h - v_threshold) : h;
      v.v[k] = after;
      h_out.v[k] = h;
      s_out.v[k] = from_float<T>(fire ? 1.0f : 0.0f);
      v_out.v[k] = from_float<T>(after);
    }
    store<T, V>(spike + at, s_out);
    if (v_seq != nullptr) store<T, V>(v_seq + at, v_out);
    if (h_seq != nullptr) store<float, V>(h_seq + at, h_out);
    x_now = x_next;
  }
  store<float, V>(v_last + i, v);
}

// grad_spike, grad_v_seq, grad_x: [T, N] of T; h_seq: [T, N] float32 from the forward;
// grad_v_last, grad_v_init: [N] float32. grad_spike, grad_v_seq, grad_v_last and grad_v_init
// may be null (no gradient flows there).
template <typename T, int V, int SG>
__global__ void lif_backward(const T* __restrict__ grad_spike, const T* __restrict__ grad_v_seq,
                             const float* __restrict__ grad_v_last,
                             const float* __restrict__ h_seq, T* __restrict__ grad_x,
                             float* __restrict__ grad_v_init, int steps, long long n, float tau,
                             float v_threshold, float v_reset, float sg_a, float sg_b,
                             int flags) {
  const long long i = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) * V;
  if (i >= n) return;
  const bool decay_input = flags & kDecayInput;
  const bool hard = flags & kHardReset;
  const bool detach = flags & kDetachReset;

  // dL/dv after step t, carried backwards through the charge of step t + 1
  Pack<float, V> gv;
  if (grad_v_last != nullptr) {
    gv = load<float, V>(grad_v_last + i);
  } else {
#pragma unroll
    for (int k = 0; k < V; ++k) gv.v[k] = 0.0f;
  }
  Pack<T, V> zero;
#pragma unroll
  for (int k = 0; k < V; ++k) zero.v[k] = from_float<T>(0.0f);

  long long at = static_cast<long long>(steps - 1) * n + i;
  Pack<float, V> h_now = load<float, V>(h_seq + at);
  Pack<T, V> gs_now = grad_spike != nullptr ? load<T, V>(grad_spike + at) : zero;
  Pack<T, V> gvs_now = grad_v_seq != nullptr ? load<T, V>(grad_v_seq + at) : zero;
  for (int t = steps - 1; t >= 0; --t) {
    Pack<float, V> h_next = h_now;
    Pack<T, V> gs_next = gs_now, gvs_next = gvs_now;
    if (t > 0) {
      h_next = load<float, V>(h_seq + at - n);
      if (grad_spike != nullptr) gs_next = load<T, V>(grad_spike + at - n);
      if (grad_v_seq != nullptr) gvs_next = load<T, V>(grad_v_seq + at - n);
    }
    Pack<T, V> gx_out;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float h = h_now.v[k];
      const float u = h - v_threshold;
      const float sg = surrogate_grad<SG>(u, sg_a, sg_b);
      const float g_after = gv.v[k] + to_float(gvs_now.v[k]);  // dL/dv[t] (post-reset)
      float dv_dh;  // d v[t] / d h[t], through the reset
      if (hard) {
        dv_dh = h >= v_threshold ? 0.0f : 1.0f;
        if (!detach) dv_dh += (v_reset - h) * sg;
      } else {
        dv_dh = detach ? 1.0f : 1.0f - v_threshold * sg;
      }
      const float gh = to_float(gs_now.v[k]) * sg + g_after * dv_dh;
      const float q = gh / tau;
      gx_out.v[k] = from_float<T>(decay_input ? q : gh);
      gv.v[k] = gh - q;  // d h[t] / d v[t-1] = 1 - 1 / tau in both charge forms
    }
    store<T, V>(grad_x + at, gx_out);
    h_now = h_next;
    gs_now = gs_next;
    gvs_now = gvs_next;
    at -= n;
  }
  if (grad_v_init != nullptr) store<float, V>(grad_v_init + i, gv);
}

}  // namespace snn
