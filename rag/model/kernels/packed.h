/* Shared pieces of the packed-weight kernels (packed_cpu.c, blocks_cpu.c) and the native decode step (decode_cpu.c).
 *
 * A packed Linear holds K inputs per row. Two kinds are repacked in groups of 32 with fp16 (d, m) beside the codes,
 * w = q * d + m:
 *   KIND_Q4:   codes (N, K/2) nibbles, byte j of a group holding element j (low) and j + 16 (high), q in 0..15
 *              (GGUF Q4_1 blocks exactly);
 *   KIND_Q8:   codes (N, K) int8 (GGUF Q4_1 blocks exactly with q in 0..15).
 * The others are the GGUF's own blocks, codes (N, K / block * block bytes), no groups (ggml-quants.c layouts):
 *   KIND_Q8_0: 32 values in 34 bytes, w = d * q;         KIND_Q5_0: 32 values in 22 bytes, w = d * (q - 16);
 *   KIND_Q4_K: 256 values in 144 bytes, 8 sub-blocks of 32 with 6-bit scales and mins, w = d*sc * q - dmin*m;
 *   KIND_Q5_K: 256 values in 176 bytes, as Q4_K with a fifth bit;
 *   KIND_Q6_K: 256 values in 210 bytes, 16 sub-blocks of 16 with int8 scales, w = d*sc * (q - 32).
 * Activations are quantised per group of 32 to int16 (x ~= xq * scale, |xq| <= 32767): each group's dot
 * product is exact in int32 (pmaddwd), scaled and summed in fp32, so results match the fp32 matmul on
 * the dequantised weight to a relative ~1e-5 (bf16 activations, as in torch's packed kernels, give ~3e-3).
 * Every output is summed in the same order whatever the number of activation rows or threads, so a batch of
 * rows gives bit for bit the results of one row at a time (speculative decoding relies on it).
 */
#ifndef RAG_PACKED_H
#define RAG_PACKED_H

#include <immintrin.h>
#include <stdint.h>

#define GROUP 32
#define MAX_ACT_ROWS 8 /* activation rows one pass over a weight serves; more rows take more passes */
#define MAX_PARTS 3    /* Linears fused side by side (q, k, v) */

enum { KIND_Q4 = 0, KIND_Q8 = 1, KIND_Q8_0 = 2, KIND_Q5_0 = 3, KIND_Q4_K = 4, KIND_Q5_K = 5, KIND_Q6_K = 6 };

typedef struct {
    int64_t kind;
    const uint8_t *codes;
    const uint16_t *groups; /* (N, K/32, 2) fp16 for KIND_Q4 / KIND_Q8, else NULL */
    const float *bias;      /* (N) or NULL */
    int64_t n, k;
} packed_linear;

/* Several Linears on one input whose outputs sit side by side (a fused qkv with q, k, v stored as other kinds). */
typedef struct {
    int64_t n_parts;
    packed_linear part[MAX_PARTS];
} fused_linear;

typedef struct {
    int16_t *xq;  /* (rows, K) */
    float *scale; /* (rows, K/32) */
    float *xsum;  /* (rows, K/32), exact fp32 group sums (for the offsets m) */
    int64_t rows, k;
} quantized_act;

/* The sum of a vector's 8 lanes. */
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* x (rows, K) -> its int16 groups, scales and sums (a->rows, a->k set by the caller). */
void quantize_act(const float *x, const quantized_act *a);

/* y[r * y_stride + j] = (W x_r)[j] for every activation row r (at most MAX_ACT_ROWS) and output j of f: an
 * OpenMP worksharing loop over rows of W (call it inside a parallel region, or alone to run serially); adds
 * the biases. */
void fused_rows(const fused_linear *f, const quantized_act *a, float *y, int64_t y_stride);

/* Bytes of one row of K values of a kind's codes. */
int64_t packed_row_bytes(int64_t kind, int64_t k);

/* The GGUF block kinds (blocks_cpu.c): values per block (0 for another kind); outputs r0..r1 of w for every
 * activation row (y[t * y_stride + r], bias added); one dequantised row of k values. */
int64_t block_values(int64_t kind);
void block_rows(const packed_linear *w, int64_t r0, int64_t r1, const quantized_act *a, float *y, int64_t y_stride);
void block_row_dequantize(int64_t kind, const uint8_t *row, float *out, int64_t k);

#endif
