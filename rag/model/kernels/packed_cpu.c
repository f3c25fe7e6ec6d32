/* Q4_1 weight kernels for CPU decode: fp32 activations times 4-bit weights, read packed.
 *
 * Weight layout (one row of K inputs): K/32 groups; group g has 16 bytes of nibbles, byte j holding
 * element j in its low nibble and element j + 16 in its high nibble (the GGUF Q4_1 order), and two
 * fp16 numbers d, m in `groups` (as in the GGUF block) so that w = q * d + m.
 *
 *   y[r, n] = sum_g d[n, g] * (q[n, g, :] . x[r, g, :]) + m[n, g] * sum(x[r, g, :])
 *
 * Products and sums are fp32 (no bf16 or int8 rounding of the activations), so the result matches the
 * fp32 matmul on the dequantised weight to fp32 rounding. Rows of W are split across OpenMP threads;
 * linked against libgomp.so.1, this shares torch's own OpenMP runtime and threads.
 * Built by rag/model/native.py with -O3 -mavx2 -mfma -mf16c -ffp-contract=off; q4_1_cpu_ok() says whether this CPU can run it.
 */
#include <math.h>
#include <stdlib.h>

#include "q4_1.h"

int q4_1_cpu_ok(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

/* The 32 codes of one group as four vectors of 8 floats, in element order. */
static inline void unpack_group(const uint8_t *nib, __m256 out[4]) {
    const __m128i mask = _mm_set1_epi8(0x0F);
    __m128i raw = _mm_loadu_si128((const __m128i *)nib);
    __m128i lo = _mm_and_si128(raw, mask);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
    out[0] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
    out[1] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
    out[2] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
    out[3] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
}

/* One group's q . xq as 8 int32 partial sums: codes widened to int16, multiplied and pair-summed by pmaddwd. */
static inline __m256i group_dot(const uint8_t *nib, const int16_t *xq) {
    const __m128i mask = _mm_set1_epi8(0x0F);
    __m128i raw = _mm_loadu_si128((const __m128i *)nib);
    __m128i lo = _mm_and_si128(raw, mask);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
    __m256i a = _mm256_madd_epi16(_mm256_cvtepu8_epi16(lo), _mm256_loadu_si256((const __m256i *)xq));
    __m256i b = _mm256_madd_epi16(_mm256_cvtepu8_epi16(hi), _mm256_loadu_si256((const __m256i *)(xq + 16)));
    return _mm256_add_epi32(a, b);
}

/* x (K) -> xq (K) int16 with one scale per group of 32 (x ~= xq * scale, |xq| <= 32767) and each group's exact sum. */
void q4_1_quantize_row(const float *x, int16_t *xq, float *scale, float *xsum, int64_t k) {
    for (int64_t g = 0; g < k / GROUP; g++) {
        const float *xg = x + g * GROUP;
        float amax = 0.0f, sum = 0.0f;
        for (int j = 0; j < GROUP; j++) {
            float a = xg[j] < 0 ? -xg[j] : xg[j];
            amax = a > amax ? a : amax;
            sum += xg[j];
        }
        const float inv = amax > 0.0f ? 32767.0f / amax : 0.0f;
        for (int j = 0; j < GROUP; j++) xq[g * GROUP + j] = (int16_t)lrintf(xg[j] * inv);
        scale[g] = amax / 32767.0f;
        xsum[g] = sum;
    }
}

/* y[row] for rows n0..n1 of W and one quantised activation row; four weight rows at a time for independent chains. */
static void one_row_block(const uint8_t *nib, const uint16_t *groups, const int16_t *xq, const float *scale,
                          const float *xsum, float *y, int64_t n0, int64_t n1, int64_t k) {
    const int64_t ng = k / GROUP, row_bytes = k / 2;
    int64_t row = n0;
    for (; row + 4 <= n1; row += 4) {
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        float offset[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int64_t g = 0; g < ng; g++) {
            for (int i = 0; i < 4; i++) {
                const uint16_t *dm = groups + ((row + i) * ng + g) * 2;
                __m256 dot = _mm256_cvtepi32_ps(group_dot(nib + (row + i) * row_bytes + g * 16, xq + g * GROUP));
                acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(dm[0]) * scale[g]), dot, acc[i]);
                offset[i] += _cvtsh_ss(dm[1]) * xsum[g];
            }
        }
        for (int i = 0; i < 4; i++) y[row + i] = q4_1_hsum(acc[i]) + offset[i];
    }
    for (; row < n1; row++) {
        __m256 acc = _mm256_setzero_ps();
        float offset = 0.0f;
        for (int64_t g = 0; g < ng; g++) {
            const uint16_t *dm = groups + (row * ng + g) * 2;
            __m256 dot = _mm256_cvtepi32_ps(group_dot(nib + row * row_bytes + g * 16, xq + g * GROUP));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(dm[0]) * scale[g]), dot, acc);
            offset += _cvtsh_ss(dm[1]) * xsum[g];
        }
        y[row] = q4_1_hsum(acc) + offset;
    }
}

void q4_1_rows(const uint8_t *nib, const uint16_t *groups, const int16_t *xq, const float *scale,
               const float *xsum, float *y, int64_t n, int64_t k) {
    const int64_t block = 16, blocks = (n + block - 1) / block;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t n0 = b * block, n1 = n0 + block < n ? n0 + block : n;
        one_row_block(nib, groups, xq, scale, xsum, y, n0, n1, k);
    }
}

/* y (M, N) = x (M, K) @ W.T, W given as nibbles (N, K/2) and groups (N, K/32, 2); 0, or < 0 on bad sizes or no memory. */
int q4_1_matmul(const uint8_t *nib, const uint16_t *groups, const float *x, float *y,
                int64_t m, int64_t n, int64_t k, int threads) {
    if (m < 1 || k % GROUP != 0) return -1;
    const int64_t ng = k / GROUP;
    int16_t *xq = malloc(sizeof(int16_t) * m * k);
    float *scale = malloc(sizeof(float) * m * ng * 2), *xsum = scale + m * ng;
    if (!xq || !scale) {
        free(xq);
        free(scale);
        return -2;
    }
    for (int64_t r = 0; r < m; r++) q4_1_quantize_row(x + r * k, xq + r * k, scale + r * ng, xsum + r * ng, k);
#pragma omp parallel num_threads(threads)
    for (int64_t r = 0; r < m; r++)
        q4_1_rows(nib, groups, xq + r * k, scale + r * ng, xsum + r * ng, y + r * n, n, k);
    free(xq);
    free(scale);
    return 0;
}

/* w (N, K) fp32 = q * d + m, rounded after the product as numpy does (built with -ffp-contract=off). */
int q4_1_dequantize(const uint8_t *nib, const uint16_t *groups, float *w, int64_t n, int64_t k, int threads) {
    if (k % GROUP != 0) return -1;
    const int64_t ng = k / GROUP;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t row = 0; row < n; row++) {
        for (int64_t g = 0; g < ng; g++) {
            __m256 q[4];
            unpack_group(nib + row * (k / 2) + g * 16, q);
            const __m256 d = _mm256_set1_ps(_cvtsh_ss(groups[(row * ng + g) * 2]));
            const __m256 mg = _mm256_set1_ps(_cvtsh_ss(groups[(row * ng + g) * 2 + 1]));
            float *out = w + row * k + g * GROUP;
            for (int i = 0; i < 4; i++) _mm256_storeu_ps(out + 8 * i, _mm256_add_ps(_mm256_mul_ps(q[i], d), mg));
        }
    }
    return 0;
}
