/* Packed-weight kernels for CPU decode (layouts and numerics in packed.h): matmul for a few activation rows
 * and exact dequantisation for prefill GEMMs. Rows of W are split across OpenMP threads; linked against
 * libgomp.so.1, the library shares torch's own OpenMP runtime and threads.
 * Built by rag/model/native.py with -O3 -mavx2 -mfma -mf16c -ffp-contract=off; packed_cpu_ok() says whether
 * this CPU can run it.
 */
#include <math.h>
#include <stdlib.h>

#include "packed.h"

int packed_cpu_ok(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

/* One Q4 group's q . xq as 8 int32 partial sums: codes widened to int16, multiplied and pair-summed. */
static inline __m256i q4_dot(const uint8_t *nib, const int16_t *xq) {
    const __m128i mask = _mm_set1_epi8(0x0F);
    __m128i raw = _mm_loadu_si128((const __m128i *)nib);
    __m128i lo = _mm_and_si128(raw, mask);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
    __m256i a = _mm256_madd_epi16(_mm256_cvtepu8_epi16(lo), _mm256_loadu_si256((const __m256i *)xq));
    __m256i b = _mm256_madd_epi16(_mm256_cvtepu8_epi16(hi), _mm256_loadu_si256((const __m256i *)(xq + 16)));
    return _mm256_add_epi32(a, b);
}

/* One Q8 group's q . xq as 8 int32 partial sums. */
static inline __m256i q8_dot(const int8_t *q, const int16_t *xq) {
    __m256i a = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)q)),
                                  _mm256_loadu_si256((const __m256i *)xq));
    __m256i b = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + 16))),
                                  _mm256_loadu_si256((const __m256i *)(xq + 16)));
    return _mm256_add_epi32(a, b);
}

void quantize_act(const float *x, const quantized_act *a, int64_t k) {
    for (int64_t g = 0; g < k / GROUP; g++) {
        const float *xg = x + g * GROUP;
        float amax = 0.0f, sum = 0.0f;
        for (int j = 0; j < GROUP; j++) {
            const float v = fabsf(xg[j]);
            amax = v > amax ? v : amax;
            sum += xg[j];
        }
        const float inv = amax > 0.0f ? 32767.0f / amax : 0.0f;
        for (int j = 0; j < GROUP; j++) a->xq[g * GROUP + j] = (int16_t)lrintf(xg[j] * inv);
        a->scale[g] = amax / 32767.0f;
        a->xsum[g] = sum;
    }
}

/* Row `row`, group g of W against the activation: d * scale * (q . xq) into acc, m * sum(x) into offset. */
static inline __attribute__((always_inline)) void group_step(const int kind, const packed_linear *w,
                                                             const quantized_act *a, int64_t row, int64_t g,
                                                             __m256 *acc, float *offset) {
    const uint16_t *dm = w->groups + (row * (w->k / GROUP) + g) * 2;
    const __m256i dot = kind == KIND_Q4 ? q4_dot(w->codes + row * (w->k / 2) + g * 16, a->xq + g * GROUP)
                                        : q8_dot((const int8_t *)w->codes + row * w->k + g * GROUP, a->xq + g * GROUP);
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(dm[0]) * a->scale[g]), _mm256_cvtepi32_ps(dot), *acc);
    *offset += _cvtsh_ss(dm[1]) * a->xsum[g];
}

/* y[row] for rows n0..n1; four weight rows at a time, for four independent accumulation chains. */
static inline __attribute__((always_inline)) void row_block(const int kind, const packed_linear *w,
                                                            const quantized_act *a, float *y, int64_t n0, int64_t n1) {
    const int64_t ng = w->k / GROUP;
    int64_t row = n0;
    for (; row + 4 <= n1; row += 4) {
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        float offset[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int64_t g = 0; g < ng; g++)
            for (int i = 0; i < 4; i++) group_step(kind, w, a, row + i, g, &acc[i], &offset[i]);
        for (int i = 0; i < 4; i++) y[row + i] = hsum8(acc[i]) + offset[i];
    }
    for (; row < n1; row++) {
        __m256 acc = _mm256_setzero_ps();
        float offset = 0.0f;
        for (int64_t g = 0; g < ng; g++) group_step(kind, w, a, row, g, &acc, &offset);
        y[row] = hsum8(acc) + offset;
    }
}

static void q4_block(const packed_linear *w, const quantized_act *a, float *y, int64_t n0, int64_t n1) {
    row_block(KIND_Q4, w, a, y, n0, n1);
}

static void q8_block(const packed_linear *w, const quantized_act *a, float *y, int64_t n0, int64_t n1) {
    row_block(KIND_Q8, w, a, y, n0, n1);
}

void packed_rows(const packed_linear *w, const quantized_act *a, float *y) {
    const int64_t block = 16, blocks = (w->n + block - 1) / block;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t n0 = b * block, n1 = n0 + block < w->n ? n0 + block : w->n;
        if (w->kind == KIND_Q4)
            q4_block(w, a, y, n0, n1);
        else
            q8_block(w, a, y, n0, n1);
    }
}

/* y (M, N) = x (M, K) @ W.T (bias excluded); 0, or < 0 on bad sizes or no memory. */
int packed_matmul(int64_t kind, const uint8_t *codes, const uint16_t *groups, const float *x, float *y, int64_t m,
                  int64_t n, int64_t k, int threads) {
    if (m < 1 || k % GROUP != 0 || (kind != KIND_Q4 && kind != KIND_Q8)) return -1;
    const packed_linear w = {kind, codes, groups, NULL, n, k};
    const int64_t ng = k / GROUP;
    int16_t *xq = malloc(sizeof(int16_t) * m * k);
    float *scales = malloc(sizeof(float) * m * ng * 2);
    if (!xq || !scales) {
        free(xq);
        free(scales);
        return -2;
    }
    for (int64_t r = 0; r < m; r++) {
        const quantized_act a = {xq + r * k, scales + r * ng, scales + (m + r) * ng};
        quantize_act(x + r * k, &a, k);
    }
#pragma omp parallel num_threads(threads)
    for (int64_t r = 0; r < m; r++) {
        const quantized_act a = {xq + r * k, scales + r * ng, scales + (m + r) * ng};
        packed_rows(&w, &a, y + r * n);
    }
    free(xq);
    free(scales);
    return 0;
}

/* w (N, K) fp32, the dequantised weight, each product rounded before the sum as numpy does (-ffp-contract=off). */
int packed_dequantize(int64_t kind, const uint8_t *codes, const uint16_t *groups, float *w, int64_t n, int64_t k,
                      int threads) {
    if (k % GROUP != 0 || (kind != KIND_Q4 && kind != KIND_Q8)) return -1;
    const int64_t ng = k / GROUP;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t row = 0; row < n; row++) {
        for (int64_t g = 0; g < ng; g++) {
            float *out = w + row * k + g * GROUP;
            const float d = _cvtsh_ss(groups[(row * ng + g) * 2]), m = _cvtsh_ss(groups[(row * ng + g) * 2 + 1]);
            if (kind == KIND_Q4) {
                const uint8_t *nib = codes + row * (k / 2) + g * 16;
                for (int j = 0; j < 16; j++) {
                    out[j] = (float)(nib[j] & 0x0F) * d + m;
                    out[j + 16] = (float)(nib[j] >> 4) * d + m;
                }
            } else {
                const int8_t *q = (const int8_t *)codes + row * k + g * GROUP;
                for (int j = 0; j < GROUP; j++) out[j] = (float)q[j] * d + m;
            }
        }
    }
    return 0;
}
