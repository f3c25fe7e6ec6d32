/* Packed-weight kernels for CPU decode (layouts and numerics in packed.h): matmul for a few activation rows
 * and exact dequantisation for prefill GEMMs; the GGUF block kinds' own loops are in blocks_cpu.c (AVX2) and
 * blocks_avx512.c, dispatched from here. Rows of W are split across OpenMP threads; linked against
 * libgomp.so.1, the library shares torch's own OpenMP runtime and threads.
 * Built by rag/model/native.py with -O3 -mavx2 -mfma -mf16c -ffp-contract=off; packed_cpu_ok() says whether
 * this CPU can run it.
 */
#include <omp.h>
#include <stdlib.h>

#include "packed.h"

int packed_cpu_ok(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

/* One group's codes as two int16 vectors (elements 0..15 and 16..31), decoded once for every activation row.
 * Q4: each byte holds element j (low nibble) and j + 16 (high); Q8: int8 codes widened. */
static inline __attribute__((always_inline)) void group_codes(const int kind, const packed_linear *w, int64_t row,
                                                              int64_t g, __m256i *lo, __m256i *hi) {
    if (kind == KIND_Q4) {
        const __m256i bytes = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(w->codes + row * (w->k / 2) + g * 16)));
        *lo = _mm256_and_si256(bytes, _mm256_set1_epi16(0x0F));
        *hi = _mm256_srli_epi16(bytes, 4);
    } else {
        const int8_t *q = (const int8_t *)w->codes + row * w->k + g * GROUP;
        *lo = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)q));
        *hi = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + 16)));
    }
}

/* A group's q . xq as 8 int32 partial sums (multiplied and pair-summed, exact). */
static inline __m256i group_dot(__m256i lo, __m256i hi, const int16_t *xq) {
    return _mm256_add_epi32(_mm256_madd_epi16(lo, _mm256_loadu_si256((const __m256i *)xq)),
                            _mm256_madd_epi16(hi, _mm256_loadu_si256((const __m256i *)(xq + 16))));
}

/* The scale and the (sequential, exact) sum are scalar; the rounding is vectorised: cvtps2dq rounds to nearest even
 * under the default MXCSR, as lrintf does, so xq is what (int16_t)lrintf(x * inv) gives. */
void quantize_act(const float *x, const quantized_act *a) {
    const int64_t k = a->k, ng = k / GROUP;
    if (a->xw && ng % WIDE_GROUPS)  /* zeros for the groups missing from each row's last block */
        for (int64_t r = 0; r < a->rows; r++)
            for (int64_t g = ng; g % WIDE_GROUPS; g++) {
                int16_t *wide = a->xw + wide_group(a->rows, k, r, g);
                for (int e = 0; e < GROUP; e++) wide[wide_slot(e)] = 0;
            }
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t g = 0; g < a->rows * ng; g++) {
        const float *xg = x + g * GROUP;
        float sum = 0.0f;
        for (int j = 0; j < GROUP; j++) sum += xg[j];
        __m256 vmax = _mm256_setzero_ps();
        for (int j = 0; j < GROUP; j += 8) vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign, _mm256_loadu_ps(xg + j)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        const float amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
        const __m256 inv = _mm256_set1_ps(amax > 0.0f ? 32767.0f / amax : 0.0f);
        int16_t *xq = a->xq + g * GROUP;
        for (int j = 0; j < GROUP; j += 16) {
            const __m256i lo = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + j), inv));
            const __m256i hi = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + j + 8), inv));
            /* packs interleaves the 128-bit halves (lo0 hi0 lo1 hi1); the permute puts them back in order */
            _mm256_storeu_si256((__m256i *)(xq + j), _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xD8));
        }
        a->scale[g] = amax / 32767.0f;
        a->xsum[g] = sum;
        if (a->xw) {
            int16_t *wide = a->xw + wide_group(a->rows, k, g / ng, g % ng);
            for (int e = 0; e < GROUP; e++) wide[wide_slot(e)] = xq[e];
        }
    }
}

/* quantize_act exported for tests: x (rows, k) -> xq (rows, k), scale and xsum (rows, k / 32); -1 on a bad k. */
int packed_quantize(const float *x, int16_t *xq, float *scale, float *xsum, int64_t rows, int64_t k) {
    if (k < GROUP || k % GROUP) return -1;
    const quantized_act a = {xq, scale, xsum, rows, k, NULL, x};
    quantize_act(x, &a);
    return 0;
}

int64_t packed_row_bytes(int64_t kind, int64_t k) {
    switch (kind) {
        case KIND_Q4: return k / 2;
        case KIND_Q8: return k;
        case KIND_Q8_0: return k / 32 * 34;
        case KIND_Q5_0: return k / 32 * 22;
        case KIND_Q4_K: return k / 256 * 144;
        case KIND_Q5_K: return k / 256 * 176;
        case KIND_Q6_K: return k / 256 * 210;
        default: return -1;
    }
}

/* Whether kind is known and k fits its blocks. */
static int valid(int64_t kind, int64_t k) {
    const int64_t block = kind == KIND_Q4 || kind == KIND_Q8 ? GROUP : block_values(kind);
    return block > 0 && k > 0 && k % block == 0;
}

/* For one row and groups g0..g1: ds[g - g0] = d[g] * scale[g], and the sum of m[g] * xsum[g] added to *offset
 * (eight groups per vector: the fp16 (d, m) pairs are converted and de-interleaved together). */
static inline __attribute__((always_inline)) void row_scales(const packed_linear *w, const float *scale,
                                                             const float *xsum, int64_t row, int64_t g0, int64_t g1,
                                                             float *ds, float *offset) {
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
        _mm256_storeu_ps(ds + g - g0, _mm256_mul_ps(d, _mm256_loadu_ps(scale + g)));
        off = _mm256_add_ps(off, _mm256_mul_ps(m, _mm256_loadu_ps(xsum + g)));
    }
    float tail = hsum8(off);
    for (; g < g1; g++) {
        ds[g - g0] = _cvtsh_ss(dm[g * 2]) * scale[g];
        tail += _cvtsh_ss(dm[g * 2 + 1]) * xsum[g];
    }
    *offset += tail;
}

/* y[t * ys + row + i] for R weight rows from row and T activation rows (R * T <= 8): an accumulation chain for each;
 * d * scale per group comes from row_scales, so the loop over groups is dot, convert, and one fused multiply-add
 * per chain. Each chain's operations do not depend on R or T: one row at a time gives the same bits. */
static inline __attribute__((always_inline)) void rows(const int kind, const int R, const int T, const packed_linear *w,
                                                       const quantized_act *a, float *y, int64_t ys, int64_t row) {
    const int64_t ng = w->k / GROUP;
    __m256 acc[8];
    float offset[8], ds[8][SCALE_CHUNK];
    for (int c = 0; c < R * T; c++) {
        acc[c] = _mm256_setzero_ps();
        offset[c] = 0.0f;
    }
    for (int64_t g0 = 0; g0 < ng; g0 += SCALE_CHUNK) {
        const int64_t g1 = g0 + SCALE_CHUNK < ng ? g0 + SCALE_CHUNK : ng;
        for (int i = 0; i < R; i++)
            for (int t = 0; t < T; t++)
                row_scales(w, a->scale + t * ng, a->xsum + t * ng, row + i, g0, g1, ds[i * T + t], &offset[i * T + t]);
        for (int64_t g = g0; g < g1; g++) {
            if (g % 4 == 0)
                for (int i = 0; i < R; i++) prefetch_ahead(kind, w, row + i, g);
            for (int i = 0; i < R; i++) {
                __m256i lo, hi;
                group_codes(kind, w, row + i, g, &lo, &hi);
                for (int t = 0; t < T; t++)
                    acc[i * T + t] = _mm256_fmadd_ps(_mm256_set1_ps(ds[i * T + t][g - g0]),
                                                     _mm256_cvtepi32_ps(group_dot(lo, hi, a->xq + t * w->k + g * GROUP)),
                                                     acc[i * T + t]);
            }
        }
    }
    for (int i = 0; i < R; i++)
        for (int t = 0; t < T; t++)
            y[t * ys + row + i] = hsum8(acc[i * T + t]) + offset[i * T + t] + (w->bias ? w->bias[row + i] : 0.0f);
}

/* y rows n0..n1 for every activation row (FOR_ROW_TILES). */
static inline __attribute__((always_inline)) void row_block(const int kind, const packed_linear *w,
                                                            const quantized_act *a, float *y, int64_t ys, int64_t n0,
                                                            int64_t n1) {
    int64_t row = n0;
#define TILE(R, T) rows(kind, R, T, w, a, y, ys, row)
    FOR_ROW_TILES(a->rows, row, n1, TILE)
#undef TILE
}

static void q4_block(const packed_linear *w, const quantized_act *a, float *y, int64_t ys, int64_t n0, int64_t n1) {
    row_block(KIND_Q4, w, a, y, ys, n0, n1);
}

static void q8_block(const packed_linear *w, const quantized_act *a, float *y, int64_t ys, int64_t n0, int64_t n1) {
    row_block(KIND_Q8, w, a, y, ys, n0, n1);
}

#define ROW_BLOCK 16  /* weight rows a thread takes at a time */

void fused_rows(const fused_linear *f, const quantized_act *a, float *y, int64_t ys) {
    int64_t first[MAX_PARTS + 1] = {0}, out[MAX_PARTS] = {0};  /* each part's first block and first output */
    for (int64_t p = 0; p < f->n_parts; p++) {
        first[p + 1] = first[p] + (f->part[p].n + ROW_BLOCK - 1) / ROW_BLOCK;
        if (p + 1 < MAX_PARTS) out[p + 1] = out[p] + f->part[p].n;
    }
#pragma omp for schedule(static)
    for (int64_t b = 0; b < first[f->n_parts]; b++) {
        int64_t p = 0;
        while (b >= first[p + 1]) p++;
        const packed_linear *w = &f->part[p];
        const int64_t n0 = (b - first[p]) * ROW_BLOCK, n1 = n0 + ROW_BLOCK < w->n ? n0 + ROW_BLOCK : w->n;
        if ((w->kind == KIND_Q4 || w->kind == KIND_Q8) && a->xw)
            avx512_rows(w, a, y + out[p], ys, n0, n1);
        else if (w->kind == KIND_Q4)
            q4_block(w, a, y + out[p], ys, n0, n1);
        else if (w->kind == KIND_Q8)
            q8_block(w, a, y + out[p], ys, n0, n1);
        else if (a->xw)
            avx512_block_rows(w, n0, n1, a, y + out[p], ys);
        else
            block_rows(w, n0, n1, a, y + out[p], ys);
    }
}

/* y (M, N) = x (M, K) @ W.T (bias excluded), MAX_ACT_ROWS rows per pass over W; 0, or < 0 on bad sizes or no memory. */
int packed_matmul(int64_t kind, const uint8_t *codes, const uint16_t *groups, const float *x, float *y, int64_t m,
                  int64_t n, int64_t k, int threads) {
    if (m < 1 || !valid(kind, k)) return -1;
    const fused_linear w = {1, {{kind, codes, groups, NULL, n, k}}};
    const int64_t ng = k / GROUP, kw = packed_avx512() ? wide_k(k) : 0;
    int16_t *xq = malloc(sizeof(int16_t) * m * (k + kw));
    float *scales = malloc(sizeof(float) * m * ng * 2);
    if (!xq || !scales) {
        free(xq);
        free(scales);
        return -2;
    }
    const quantized_act all = {xq, scales, scales + m * ng, m, k, kw ? xq + m * k : NULL, x};
    quantize_act(x, &all);
#pragma omp parallel num_threads(threads)
    for (int64_t r = 0; r < m; r += MAX_ACT_ROWS) {
        const int64_t rows = m - r < MAX_ACT_ROWS ? m - r : MAX_ACT_ROWS;
        const quantized_act a = {xq + r * k, all.scale + r * ng, all.xsum + r * ng, rows, k,
                                 kw ? all.xw + r * kw : NULL, x + r * k};
        fused_rows(&w, &a, y + r * n, n);
    }
    free(xq);
    free(scales);
    return 0;
}

/* out (k) = one row of W in fp32, each value computed as the reference does (-ffp-contract=off): q * d + m for the
 * repacked kinds (as numpy did), gguf.quants' operations for the block kinds. */
static void dequantize_row(int64_t kind, const uint8_t *codes, const uint16_t *groups, int64_t row, int64_t k,
                           float *out) {
    if (kind != KIND_Q4 && kind != KIND_Q8) {
        block_row_dequantize(kind, codes + row * packed_row_bytes(kind, k), out, k);
        return;
    }
    const int64_t ng = k / GROUP;
    for (int64_t g = 0; g < ng; g++, out += GROUP) {
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

/* bf16 bits of f rounded to nearest even, as torch's float -> bfloat16 conversion (NaN kept quiet). */
static inline uint16_t bf16_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

/* w (n, k) = W in fp32, or (bf16 != 0) each fp32 value rounded to bf16: the weight of a prefill GEMM. */
int packed_dequantize(int64_t kind, const uint8_t *codes, const uint16_t *groups, void *w, int64_t n, int64_t k,
                      int bf16, int threads) {
    if (!valid(kind, k) || threads < 1) return -1;
    float *rows_f32 = bf16 ? malloc((size_t)threads * (size_t)k * sizeof(float)) : NULL;  /* a row per thread */
    if (bf16 && !rows_f32) return -2;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t row = 0; row < n; row++) {
        if (!bf16) {
            dequantize_row(kind, codes, groups, row, k, (float *)w + row * k);
            continue;
        }
        float *row_f32 = rows_f32 + (int64_t)omp_get_thread_num() * k;
        uint16_t *out = (uint16_t *)w + row * k;
        dequantize_row(kind, codes, groups, row, k, row_f32);
        for (int64_t j = 0; j < k; j++) out[j] = bf16_bits(row_f32[j]);
    }
    free(rows_f32);
    return 0;
}
