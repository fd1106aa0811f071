// Events to frames on the GPU: float32 event counts [F, P, H, W], one atomic add per event and
// frame.
//
// Frame f counts the events with index in [starts[f], ends[f]) of the (x, y, p) arrays, so the
// frame boundaries of any slicing mode (computed on the host from sorted timestamps) apply, and
// overlapping frames count an event once in each. Streams of a batch are concatenated: their
// frames are consecutive rows of `starts`/`ends`. With n_pol == 1 polarities are merged; with
// n_pol == 2, p (0 or 1) selects the channel. Events outside the plane are skipped (the host
// validates them first); counts are exact up to 2^24 per pixel.

namespace snn {

// x, y, p: [E] int32 (p may be null when n_pol == 1); starts, ends: [F] int64;
// frames: [F, n_pol, height, width] float32, zeroed by the caller.
__global__ void bin_events(const int* __restrict__ x, const int* __restrict__ y,
                           const int* __restrict__ p, const long long* __restrict__ starts,
                           const long long* __restrict__ ends, float* __restrict__ frames,
                           int n_frames, int width, int height, int n_pol) {
  const long long plane = static_cast<long long>(height) * width;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (int f = blockIdx.y; f < n_frames; f += gridDim.y) {
    float* frame = frames + static_cast<long long>(f) * n_pol * plane;
    const long long end = ends[f];
    for (long long i = starts[f] + static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
         i < end; i += stride) {
      const int xi = x[i];
      const int yi = y[i];
      const int pi = n_pol == 2 ? p[i] : 0;
      if (xi < 0 || xi >= width || yi < 0 || yi >= height || pi < 0 || pi >= n_pol) continue;
      atomicAdd(frame + pi * plane + static_cast<long long>(yi) * width + xi, 1.0f);
    }
  }
}

}  // namespace snn
