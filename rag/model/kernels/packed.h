/* Shared pieces of the packed-weight kernels (packed_cpu.c) and the native decode step (decode_cpu.c).
 *
 * A packed Linear holds K inputs per row in groups of 32, stored as in the GGUF blocks:
 *   groups (N, K/32, 2) fp16 d, m and w = q * d + m for both kinds, with codes
 *   Q4:   (N, K/2) nibbles, byte j of a group holding element j (low) and j + 16 (high), q in 0..15
 *         (GGUF Q4_1 blocks exactly);
 *   Q8:   (N, K) int8 (GGUF Q8_0 blocks exactly with m = 0, and Q4_1 blocks exactly with q in 0..15).
 * Activations are quantised per group of 32 to int16 (x ~= xq * scale, |xq| <= 32767): each group's dot
 * product is exact in int32 (pmaddwd), scaled and summed in fp32, so results match the fp32 matmul on
 * the dequantised weight to a relative ~1e-5 (bf16 activations, as in torch's packed kernels, give ~3e-3).
 */
#ifndef RAG_PACKED_H
#define RAG_PACKED_H

#include <immintrin.h>
#include <stdint.h>

#define GROUP 32

enum { KIND_Q4 = 0, KIND_Q8 = 1 };

typedef struct {
    int64_t kind;
    const uint8_t *codes;
    const uint16_t *groups;
    const float *bias; /* (N) or NULL */
    int64_t n, k;
} packed_linear;

typedef struct {
    int16_t *xq;  /* (K) */
    float *scale; /* (K/32) */
    float *xsum;  /* (K/32), exact fp32 group sums (for the offsets m) */
} quantized_act;

/* The sum of a vector's 8 lanes. */
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* x (K) -> its int16 groups, scales and sums. */
void quantize_act(const float *x, const quantized_act *a, int64_t k);

/* y (N) = W x for one quantised activation row: an OpenMP worksharing loop over rows of W (call it inside a
 * parallel region, or alone to run serially); adds the bias where w has one. */
void packed_rows(const packed_linear *w, const quantized_act *a, float *y);

#endif
