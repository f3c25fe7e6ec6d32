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

/* One Q4 group's q . xq as 8 int32 partial sums: each byte widened to int16 holds both of its codes, the low
 * nibble (element j) and the high (element j + 16); masked and shifted, multiplied and pair-summed. */
static inline __m256i q4_dot(const uint8_t *nib, const int16_t *xq) {
    const __m256i bytes = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)nib));
    const __m256i lo = _mm256_and_si256(bytes, _mm256_set1_epi16(0x0F));
    const __m256i hi = _mm256_srli_epi16(bytes, 4);
    __m256i a = _mm256_madd_epi16(lo, _mm256_loadu_si256((const __m256i *)xq));
    __m256i b = _mm256_madd_epi16(hi, _mm256_loadu_si256((const __m256i *)(xq + 16)));
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

/* One group's int32 dot product q . xq as 8 partial sums, for either kind. */
static inline __attribute__((always_inline)) __m256i group_dot(const int kind, const packed_linear *w,
                                                               const quantized_act *a, int64_t row, int64_t g) {
    return kind == KIND_Q4 ? q4_dot(w->codes + row * (w->k / 2) + g * 16, a->xq + g * GROUP)
                           : q8_dot((const int8_t *)w->codes + row * w->k + g * GROUP, a->xq + g * GROUP);
}

/* For one row and groups g0..g1: ds[g - g0] = d[g] * scale[g], and the sum of m[g] * xsum[g] added to *offset
 * (eight groups per vector: the fp16 (d, m) pairs are converted and de-interleaved together). */
static inline __attribute__((always_inline)) void row_scales(const packed_linear *w, const quantized_act *a,
                                                             int64_t row, int64_t g0, int64_t g1, float *ds,
                                                             float *offset) {
    const uint16_t *dm = w->groups + row * (w->k / GROUP) * 2;
    __m256 off = _mm256_setzero_ps();
    int64_t g = g0;
    for (; g + 8 <= g1; g += 8) {
        const __m256i pairs = _mm256_loadu_si256((const __m256i *)(dm + g * 2));  /* d0 m0 d1 m1 ... d7 m7 */
        const __m256 lo = _mm256_cvtph_ps(_mm256_castsi256_si128(pairs));
        const __m256 hi = _mm256_cvtph_ps(_mm256_extracti128_si256(pairs, 1));
        /* shuffle_ps gives d0 d1 d4 d5 | d2 d3 d6 d7; the 64-bit permute restores d0..d7 */
        const __m256 d = _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)));
        const __m256 m = _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0)));
        _mm256_storeu_ps(ds + g - g0, _mm256_mul_ps(d, _mm256_loadu_ps(a->scale + g)));
        off = _mm256_add_ps(off, _mm256_mul_ps(m, _mm256_loadu_ps(a->xsum + g)));
    }
    float tail = hsum8(off);
    for (; g < g1; g++) {
        ds[g - g0] = _cvtsh_ss(dm[g * 2]) * a->scale[g];
        tail += _cvtsh_ss(dm[g * 2 + 1]) * a->xsum[g];
    }
    *offset += tail;
}

/* Four weight rows are four streams far apart (768 bytes for K = 1536), too many for the hardware prefetcher:
 * ask for each row's codes and groups PREFETCH_GROUPS groups ahead of use. */
#define PREFETCH_GROUPS 16
static inline __attribute__((always_inline)) void prefetch_ahead(const int kind, const packed_linear *w, int64_t row,
                                                                 int64_t g) {
    const int64_t ng = w->k / GROUP, ahead = row * ng + g + PREFETCH_GROUPS;  /* may run into the next rows */
    const int64_t bytes = kind == KIND_Q4 ? GROUP / 2 : GROUP;
    _mm_prefetch((const char *)(w->codes + ahead * bytes), _MM_HINT_T0);
    if (kind == KIND_Q8) _mm_prefetch((const char *)(w->codes + ahead * bytes + 64), _MM_HINT_T0);
    _mm_prefetch((const char *)(w->groups + ahead * 2), _MM_HINT_T0);
}

#define SCALE_CHUNK 64  /* groups whose scales are computed ahead of their dot products */

/* y[row..row+R) for R (1 or 4) rows: R independent accumulation chains; d * scale per group comes from
 * row_scales, so the loop over groups is dot, convert, and one fused multiply-add per row. */
static inline __attribute__((always_inline)) void rows(const int kind, const int R, const packed_linear *w,
                                                       const quantized_act *a, float *y, int64_t row) {
    const int64_t ng = w->k / GROUP;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float offset[4] = {0.0f, 0.0f, 0.0f, 0.0f}, ds[4][SCALE_CHUNK];
    for (int64_t g0 = 0; g0 < ng; g0 += SCALE_CHUNK) {
        const int64_t g1 = g0 + SCALE_CHUNK < ng ? g0 + SCALE_CHUNK : ng;
        for (int i = 0; i < R; i++) row_scales(w, a, row + i, g0, g1, ds[i], &offset[i]);
        for (int64_t g = g0; g < g1; g++) {
            if (g % 4 == 0)
                for (int i = 0; i < R; i++) prefetch_ahead(kind, w, row + i, g);
            for (int i = 0; i < R; i++)
                acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(ds[i][g - g0]),
                                         _mm256_cvtepi32_ps(group_dot(kind, w, a, row + i, g)), acc[i]);
        }
    }
    for (int i = 0; i < R; i++) y[row + i] = hsum8(acc[i]) + offset[i] + (w->bias ? w->bias[row + i] : 0.0f);
}

/* y[row] for rows n0..n1, four at a time. */
static inline __attribute__((always_inline)) void row_block(const int kind, const packed_linear *w,
                                                            const quantized_act *a, float *y, int64_t n0, int64_t n1) {
    int64_t row = n0;
    for (; row + 4 <= n1; row += 4) rows(kind, 4, w, a, y, row);
    for (; row < n1; row++) rows(kind, 1, w, a, y, row);
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
