/* Matmul and dequantisation straight on a GGUF's own blocks: Q8_0, Q5_0, Q4_K, Q5_K and Q6_K (layouts in packed.h,
 * after ggml-quants.c; gguf.quants.dequantize is the reference the tests hold them to).
 *
 * The AVX2 matmul: each group of 32 weights is decoded once into two int16 vectors (elements 0..15 and 16..31) and
 * one or two fp32 multipliers, then multiplied with every activation row's int16 group (pmaddwd, exact in int32): a
 * batch of rows reads the weight once. Where packed_avx512() is on, blocks_avx512.c runs instead, on the fp32
 * activations themselves (packed.h). Dequantisation repeats gguf.quants' fp32 operations in its order
 * (-ffp-contract=off), so it is bit for bit the reference.
 */
#include <string.h>

#include "packed.h"

#define QK_K 256

/* One decoded group: codes lo (elements 0..15), hi (16..31) and w = wa * q - mo (wb for hi where it differs). */
typedef struct {
    __m256i lo, hi;
    float wa, wb, mo;
} group_codes;

/* 16 bytes -> 16 uint16 lanes. */
static inline __m256i widen(const uint8_t *p) { return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p)); }

/* 16 lanes holding bit b (0 or 1) of each of 16 bits, times 16: the fifth bit of Q5_0 codes. */
static inline __m256i bit4_of(uint32_t bits16) {
    const __m256i mask = _mm256_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384,
                                           (short)32768);
    const __m256i set = _mm256_cmpeq_epi16(_mm256_and_si256(_mm256_set1_epi16((short)bits16), mask), mask);
    return _mm256_and_si256(set, _mm256_set1_epi16(16));
}

static inline __attribute__((always_inline)) group_codes decode(const int kind, const uint8_t *row, int64_t g) {
    group_codes c;
    c.mo = 0.0f;
    if (kind == KIND_Q8_0) { /* d f16, q int8[32] */
        const uint8_t *b = row + g * 34;
        c.lo = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 2)));
        c.hi = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 18)));
        c.wa = c.wb = half_at(b);
    } else if (kind == KIND_Q5_0) { /* d f16, qh u32 (bit j: fifth bit of element j), qs[16] nibbles */
        const uint8_t *b = row + g * 22;
        uint32_t qh;
        memcpy(&qh, b + 2, 4);
        const __m256i bytes = widen(b + 6), sixteen = _mm256_set1_epi16(16);
        c.lo = _mm256_sub_epi16(_mm256_or_si256(_mm256_and_si256(bytes, _mm256_set1_epi16(0x0F)), bit4_of(qh)), sixteen);
        c.hi = _mm256_sub_epi16(_mm256_or_si256(_mm256_srli_epi16(bytes, 4), bit4_of(qh >> 16)), sixteen);
        c.wa = c.wb = half_at(b);
    } else if (kind == KIND_Q4_K || kind == KIND_Q5_K) {
        /* d, dmin f16, scales[12], (Q5_K: qh[32]), qs[128]: sub-block j in bytes 32 (j / 2).. of qs, nibble j % 2 */
        const int j = (int)(g % 8);
        const uint8_t *b = row + (g / 8) * (kind == KIND_Q4_K ? 144 : 176);
        const uint8_t *qs = b + (kind == KIND_Q4_K ? 16 : 48) + 32 * (j / 2);
        int sc, m;
        k4_scale_min(b + 4, j, &sc, &m);
        const __m128i shift = _mm_cvtsi32_si128(4 * (j % 2));
        const __m256i nib = _mm256_set1_epi16(0x0F);
        c.lo = _mm256_and_si256(_mm256_srl_epi16(widen(qs), shift), nib);
        c.hi = _mm256_and_si256(_mm256_srl_epi16(widen(qs + 16), shift), nib);
        if (kind == KIND_Q5_K) { /* bit j of qh[l] is bit 4 of element l */
            const __m128i bit = _mm_cvtsi32_si128(j);
            const __m256i one = _mm256_set1_epi16(1);
            c.lo = _mm256_or_si256(c.lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(widen(b + 16), bit), one), 4));
            c.hi = _mm256_or_si256(c.hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(widen(b + 32), bit), one), 4));
        }
        c.wa = c.wb = half_at(b) * (float)sc;
        c.mo = half_at(b + 2) * (float)m;
    } else { /* KIND_Q6_K: ql[128], qh[64], scales int8[16], d f16; group c = 4h + j of the block (halves of 128) */
        const uint8_t *b = row + (g / 8) * 210;
        const int h = (int)(g % 8) / 4, j = (int)(g % 8) % 4;
        const uint8_t *ql = b + 64 * h + 32 * (j % 2), *qh = b + 128 + 32 * h;
        const __m128i low_shift = _mm_cvtsi32_si128(4 * (j / 2)), high_shift = _mm_cvtsi32_si128(2 * j);
        const __m256i nib = _mm256_set1_epi16(0x0F), two = _mm256_set1_epi16(3), bias = _mm256_set1_epi16(32);
        const __m256i lo = _mm256_and_si256(_mm256_srl_epi16(widen(ql), low_shift), nib);
        const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(widen(ql + 16), low_shift), nib);
        const __m256i lo2 = _mm256_and_si256(_mm256_srl_epi16(widen(qh), high_shift), two);
        const __m256i hi2 = _mm256_and_si256(_mm256_srl_epi16(widen(qh + 16), high_shift), two);
        c.lo = _mm256_sub_epi16(_mm256_or_si256(lo, _mm256_slli_epi16(lo2, 4)), bias);
        c.hi = _mm256_sub_epi16(_mm256_or_si256(hi, _mm256_slli_epi16(hi2, 4)), bias);
        const int8_t *scales = (const int8_t *)(b + 192) + 8 * h + 2 * j;
        const float d = half_at(b + 208);
        c.wa = d * (float)scales[0];
        c.wb = d * (float)scales[1];
    }
    return c;
}

int64_t block_values(int64_t kind) {
    switch (kind) {
        case KIND_Q8_0:
        case KIND_Q5_0: return 32;
        case KIND_Q4_K:
        case KIND_Q5_K:
        case KIND_Q6_K: return QK_K;
        default: return 0;
    }
}

/* y[t * ys + row + i] for R weight rows from row and T activation rows: one accumulator each, summed group by group
 * in the same order for any R and T. */
static inline __attribute__((always_inline)) void rows_of(const int kind, const int R, const int T, const uint8_t *codes,
                                                          int64_t row_bytes, int64_t row, const quantized_act *a,
                                                          const float *bias, float *y, int64_t ys) {
    const int64_t k = a->k, ng = k / GROUP;
    __m256 acc[4][MAX_ACT_ROWS];
    float off[4][MAX_ACT_ROWS];
    for (int i = 0; i < R; i++)
        for (int t = 0; t < T; t++) {
            acc[i][t] = _mm256_setzero_ps();
            off[i][t] = 0.0f;
        }
    for (int64_t g = 0; g < ng; g++) {
        for (int i = 0; i < R; i++) {
            const group_codes c = decode(kind, codes + (row + i) * row_bytes, g);
            for (int t = 0; t < T; t++) {
                const int16_t *xq = a->xq + t * k + g * GROUP;
                const float xs = a->scale[t * ng + g];
                const __m256i s0 = _mm256_madd_epi16(c.lo, _mm256_loadu_si256((const __m256i *)xq));
                const __m256i s1 = _mm256_madd_epi16(c.hi, _mm256_loadu_si256((const __m256i *)(xq + 16)));
                if (kind == KIND_Q6_K) {
                    acc[i][t] = _mm256_fmadd_ps(_mm256_set1_ps(c.wa * xs), _mm256_cvtepi32_ps(s0), acc[i][t]);
                    acc[i][t] = _mm256_fmadd_ps(_mm256_set1_ps(c.wb * xs), _mm256_cvtepi32_ps(s1), acc[i][t]);
                } else {
                    acc[i][t] = _mm256_fmadd_ps(_mm256_set1_ps(c.wa * xs), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)),
                                                acc[i][t]);
                }
                if (kind == KIND_Q4_K || kind == KIND_Q5_K) off[i][t] += c.mo * a->xsum[t * ng + g];
            }
        }
    }
    for (int i = 0; i < R; i++)
        for (int t = 0; t < T; t++)
            y[t * ys + row + i] = hsum8(acc[i][t]) - off[i][t] + (bias ? bias[row + i] : 0.0f);
}

/* Rows r0..r1 of one kind for T activation rows: two weight rows at a time for one activation row, else one. */
static inline __attribute__((always_inline)) void kind_rows(const int kind, const uint8_t *codes, int64_t row_bytes,
                                                            int64_t r0, int64_t r1, const quantized_act *a,
                                                            const float *bias, float *y, int64_t ys) {
    int64_t row = r0;
    switch (a->rows) {
#define ONE_ROW_AT_A_TIME(T) \
    case T: for (; row < r1; row++) rows_of(kind, 1, T, codes, row_bytes, row, a, bias, y, ys); break;
        case 1:
            for (; row + 2 <= r1; row += 2) rows_of(kind, 2, 1, codes, row_bytes, row, a, bias, y, ys);
            for (; row < r1; row++) rows_of(kind, 1, 1, codes, row_bytes, row, a, bias, y, ys);
            break;
        ONE_ROW_AT_A_TIME(2)
        ONE_ROW_AT_A_TIME(3)
        ONE_ROW_AT_A_TIME(4)
        ONE_ROW_AT_A_TIME(5)
        ONE_ROW_AT_A_TIME(6)
        ONE_ROW_AT_A_TIME(7)
        ONE_ROW_AT_A_TIME(8)
#undef ONE_ROW_AT_A_TIME
        default: break;
    }
}

void block_rows(const packed_linear *w, int64_t r0, int64_t r1, const quantized_act *a, float *y, int64_t ys) {
    const int64_t row_bytes = packed_row_bytes(w->kind, w->k);
    switch (w->kind) {
        case KIND_Q8_0: kind_rows(KIND_Q8_0, w->codes, row_bytes, r0, r1, a, w->bias, y, ys); break;
        case KIND_Q5_0: kind_rows(KIND_Q5_0, w->codes, row_bytes, r0, r1, a, w->bias, y, ys); break;
        case KIND_Q4_K: kind_rows(KIND_Q4_K, w->codes, row_bytes, r0, r1, a, w->bias, y, ys); break;
        case KIND_Q5_K: kind_rows(KIND_Q5_K, w->codes, row_bytes, r0, r1, a, w->bias, y, ys); break;
        case KIND_Q6_K: kind_rows(KIND_Q6_K, w->codes, row_bytes, r0, r1, a, w->bias, y, ys); break;
        default: break;
    }
}

/* out (k) = the row's weights, each value computed as gguf.quants.dequantize does (the same fp32 operations). */
void block_row_dequantize(int64_t kind, const uint8_t *row, float *out, int64_t k) {
    for (int64_t g = 0; g < k / GROUP; g++) {
        float *o = out + g * GROUP;
        int16_t q[GROUP];
        const group_codes c = kind == KIND_Q8_0   ? decode(KIND_Q8_0, row, g)
                              : kind == KIND_Q5_0 ? decode(KIND_Q5_0, row, g)
                              : kind == KIND_Q4_K ? decode(KIND_Q4_K, row, g)
                              : kind == KIND_Q5_K ? decode(KIND_Q5_K, row, g)
                                                  : decode(KIND_Q6_K, row, g);
        _mm256_storeu_si256((__m256i *)q, c.lo);
        _mm256_storeu_si256((__m256i *)(q + 16), c.hi);
        if (kind == KIND_Q4_K || kind == KIND_Q5_K) {
            for (int j = 0; j < GROUP; j++) o[j] = c.wa * (float)q[j] - c.mo;  /* d * q - dm */
        } else {
            for (int j = 0; j < 16; j++) o[j] = c.wa * (float)q[j];            /* d * q, q already signed */
            for (int j = 16; j < GROUP; j++) o[j] = c.wb * (float)q[j];
        }
    }
}
