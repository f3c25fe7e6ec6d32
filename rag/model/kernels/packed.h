/* Shared pieces of the Q4_1 kernels (q4_1_cpu.c) and the native decode step (decode_cpu.c). */
#ifndef RAG_Q4_1_H
#define RAG_Q4_1_H

#include <immintrin.h>
#include <stdint.h>

#define GROUP 32

/* The sum of a vector's 8 lanes. */
static inline float q4_1_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* x (K) -> xq (K) int16 with one scale per group of 32 (x ~= xq * scale) and each group's exact sum. */
void q4_1_quantize_row(const float *x, int16_t *xq, float *scale, float *xsum, int64_t k);

/* y (N) = W x for one quantised activation row; an OpenMP worksharing loop (call it inside a parallel region,
 * or alone to run serially). */
void q4_1_rows(const uint8_t *nib, const uint16_t *groups, const int16_t *xq, const float *scale,
               const float *xsum, float *y, int64_t n, int64_t k);

#endif
