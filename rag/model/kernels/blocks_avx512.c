/* The AVX-512 path of the GGUF block kinds' matmul (Q8_0, Q5_0, Q4_K, Q5_K, Q6_K; layouts in packed.h), on with
 * packed_avx512.c's kernels (packed_set_avx512) and, like them, compiled for AVX-512 function by function.
 *
 * It multiplies the fp32 activations themselves (quantized_act.x), not their int16 groups. A weight row goes in
 * units (a group of 32; a pair of Q4_K / Q5_K sub-blocks, which share their bytes; half a Q6_K block, 128 values),
 * each decoded once for every activation row into vectors of 16 integer codes converted to fp32 (exact). Scales are
 * converted ahead, SCALE_CHUNK groups at a time (chunk_scales), each the reference's fp32 product (d, d*sc, d*scale).
 * Per output and group of 32, 16 lanes:
 *   Q8_0, Q5_0, Q4_K, Q5_K: acc += (d or d*sc) * (q[0..15] * x[0..15] + q[16..31] * x[16..31]) and, for the K kinds,
 *     off += dmin*m * (the group's sum of x, xsum), as w = d*sc * q - dmin*m;
 *   Q6_K: acc += w[0..15] * x[0..15], then w[16..31] * x[16..31], with w = d*scale * (q - 32), gguf.quants' weight.
 * Last, the lanes of acc (minus those of off) are summed and the bias added. Nothing but fp32 rounding enters, so an
 * output is the fp32 matmul on the dequantised weight to fp32 rounding (~3e-8 of sum |w x| on random blocks, against
 * ~4e-6 for int16 groups); and no step depends on the number of weight or activation rows or of threads: a batch of
 * rows gives bit for bit the results of one row at a time.
 */
#include "packed.h"

/* 16 bytes -> 16 int32 lanes, zero- or sign-extended. */
INLINE_AVX512 __m512i bytes_u(const uint8_t *p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)); }
INLINE_AVX512 __m512i bytes_s(const uint8_t *p) { return _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)); }

/* A unit's activations: its first value in row 0, rows k apart. */
typedef struct {
    const float *x;
    int64_t k;
} unit_act;

/* acc[t] += *d * (q0 . x[0..15] + q1 . x[16..31]) lane by lane: a group of 32 codes (as fp32) with one scale. */
INLINE_AVX512 void add_group(const int T, __m512 q0, __m512 q1, const float *d, const unit_act *u, int at, __m512 *acc) {
    for (int t = 0; t < T; t++) {
        const float *x = u->x + t * u->k + at;
        const __m512 dot = _mm512_fmadd_ps(q1, _mm512_loadu_ps(x + 16), _mm512_mul_ps(q0, _mm512_loadu_ps(x)));
        acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(*d), dot, acc[t]);
    }
}

/* Q8_0, one group: d f16, q int8[32]. */
INLINE_AVX512 void q8_0_unit(const int T, const uint8_t *b, const float *d, const unit_act *u, __m512 *acc) {
    add_group(T, _mm512_cvtepi32_ps(bytes_s(b + 2)), _mm512_cvtepi32_ps(bytes_s(b + 18)), d, u, 0, acc);
}

/* Q5_0, one group: d f16, qh u32 (bit j: fifth bit of element j), qs[16] (element j low nibble, j + 16 high). q - 16
 * is the nibble where the fifth bit is set, else the nibble with every higher bit set. */
INLINE_AVX512 void q5_0_unit(const int T, const uint8_t *b, const float *d, const unit_act *u, __m512 *acc) {
    const __m512i low_bits = _mm512_setr_epi32(1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8,
                                               1 << 9, 1 << 10, 1 << 11, 1 << 12, 1 << 13, 1 << 14, 1 << 15);
    int32_t bits;
    memcpy(&bits, b + 2, 4);
    const __m512i qh = _mm512_set1_epi32(bits), minus16 = _mm512_set1_epi32(-16);
    const __mmask16 unset0 = _mm512_testn_epi32_mask(qh, low_bits);
    const __mmask16 unset1 = _mm512_testn_epi32_mask(qh, _mm512_slli_epi32(low_bits, 16));
    const __m512i bytes = bytes_u(b + 6);
    const __m512i q0 = _mm512_and_si512(bytes, _mm512_set1_epi32(0x0F)), q1 = _mm512_srli_epi32(bytes, 4);
    add_group(T, _mm512_cvtepi32_ps(_mm512_mask_or_epi32(q0, unset0, q0, minus16)),
              _mm512_cvtepi32_ps(_mm512_mask_or_epi32(q1, unset1, q1, minus16)), d, u, 0, acc);
}

/* Q4_K / Q5_K, sub-blocks j and j + 1 (j even) of a block: d, dmin f16, scales[12], (Q5_K: qh[32]), qs[128]. Their
 * 32 bytes of qs hold sub-block j in the low nibbles and j + 1 in the high ones; bit j of qh[l] is bit 4 of element l
 * of sub-block j. w = d*sc * q - dmin*m: each adds d*sc * (q . x) here (ds[0], ds[1]), dmin*m * (its sum of x) to the
 * offsets (chunk_scales). */
INLINE_AVX512 void k4_unit(const int kind, const int T, const uint8_t *b, int j, const float *ds, const unit_act *u,
                           __m512 *acc) {
    const uint8_t *qs = b + (kind == KIND_Q4_K ? 16 : 48) + 32 * (j / 2);
    const __m512i v0 = bytes_u(qs), v1 = bytes_u(qs + 16), nib = _mm512_set1_epi32(0x0F);
    __m512i q[4] = {_mm512_and_si512(v0, nib), _mm512_and_si512(v1, nib), _mm512_srli_epi32(v0, 4),
                    _mm512_srli_epi32(v1, 4)};
    if (kind == KIND_Q5_K) {
        const __m512i h0 = bytes_u(b + 16), h1 = bytes_u(b + 32), sixteen = _mm512_set1_epi32(16);
        for (int s = 0; s < 2; s++) {
            const __m512i bit = _mm512_set1_epi32(1 << (j + s));
            q[2 * s] = _mm512_mask_or_epi32(q[2 * s], _mm512_test_epi32_mask(h0, bit), q[2 * s], sixteen);
            q[2 * s + 1] = _mm512_mask_or_epi32(q[2 * s + 1], _mm512_test_epi32_mask(h1, bit), q[2 * s + 1], sixteen);
        }
    }
    for (int s = 0; s < 2; s++)
        add_group(T, _mm512_cvtepi32_ps(q[2 * s]), _mm512_cvtepi32_ps(q[2 * s + 1]), ds + s, u, s * GROUP, acc);
}

/* Q6_K, half h (groups 4h..4h+3, 128 values) of a block: ql[128], qh[64], scales int8[16], d f16. Byte l of the half's
 * 64 bytes of ql holds element l % 32 of group l / 32 (low nibble) and of group l / 32 + 2 (high); byte l of its 32
 * bytes of qh bits 2c, 2c + 1 of element l of group c. w = d*scale * (q - 32) (ds: one d*scale per 16 values). */
INLINE_AVX512 void q6_k_unit(const int T, const uint8_t *b, int h, const float *ds, const unit_act *u, __m512 *acc) {
    const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
    const __m512i nib = _mm512_set1_epi32(0x0F), top = _mm512_set1_epi32(0x30), bias = _mm512_set1_epi32(32);
    const __m512i high[2] = {bytes_u(qh), bytes_u(qh + 16)};
    for (int c = 0; c < 4; c++)
        for (int e = 0; e < 2; e++) {  /* elements 16e..16e+15 of group c */
            const __m512i low = bytes_u(ql + 32 * (c % 2) + 16 * e);
            const __m512i lo4 = c < 2 ? _mm512_and_si512(low, nib) : _mm512_srli_epi32(low, 4);
            const __m512i hi2 = _mm512_and_si512(c < 2 ? _mm512_slli_epi32(high[e], 4 - 2 * c)
                                                       : _mm512_srli_epi32(high[e], 2 * c - 4), top);
            const __m512 w = _mm512_mul_ps(_mm512_set1_ps(ds[2 * c + e]),
                                           _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_or_si512(lo4, hi2), bias)));
            for (int t = 0; t < T; t++)
                acc[t] = _mm512_fmadd_ps(w, _mm512_loadu_ps(u->x + t * u->k + c * GROUP + 16 * e), acc[t]);
        }
}

/* Groups a unit of a kind covers: one, a pair of sub-blocks (Q4_K, Q5_K) or half a block (Q6_K). */
static inline int unit_groups(const int kind) {
    return kind == KIND_Q6_K ? 4 : kind == KIND_Q4_K || kind == KIND_Q5_K ? 2 : 1;
}

/* The unit from group g of a weight row, for T activation rows; ds the scales chunk_scales wrote for group g. */
INLINE_AVX512 void row_unit(const int kind, const int T, const uint8_t *row, int64_t g, const float *ds,
                            const unit_act *u, __m512 *acc) {
    switch (kind) {
        case KIND_Q8_0: q8_0_unit(T, row + g * 34, ds, u, acc); break;
        case KIND_Q5_0: q5_0_unit(T, row + g * 22, ds, u, acc); break;
        case KIND_Q4_K: k4_unit(KIND_Q4_K, T, row + g / 8 * 144, (int)(g % 8), ds, u, acc); break;
        case KIND_Q5_K: k4_unit(KIND_Q5_K, T, row + g / 8 * 176, (int)(g % 8), ds, u, acc); break;
        default: q6_k_unit(T, row + g / 8 * 210, (int)(g % 8) / 4, ds, u, acc); break;
    }
}

/* Scales of groups g0..g1 (at most SCALE_CHUNK, whole blocks) of a weight row, fp32, ahead of their dot products:
 * ds[g - g0] = d (Q8_0, Q5_0) or d*sc (Q4_K, Q5_K), or d*scale of each 16 values at ds[2 (g - g0)..] (Q6_K);
 * Q4_K, Q5_K: dm[g - g0] = dmin*m. Each is the reference's product. */
INLINE_AVX512 void chunk_scales(const int kind, const uint8_t *row, int64_t g0, int64_t g1, float *ds, float *dm) {
    const int n = (int)(g1 - g0);
    if (kind == KIND_Q8_0 || kind == KIND_Q5_0) {  /* d leads each block */
        const int64_t bytes = kind == KIND_Q8_0 ? 34 : 22;
        uint16_t d[SCALE_CHUNK];
        for (int j = 0; j < n; j++) memcpy(d + j, row + (g0 + j) * bytes, 2);
        for (int j = 0; j < n; j += 16) {
            const __mmask16 in = n - j >= 16 ? 0xFFFF : (__mmask16)((1u << (n - j)) - 1);
            _mm512_mask_storeu_ps(ds + j, in, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(in, d + j)));
        }
    } else if (kind == KIND_Q4_K || kind == KIND_Q5_K) {
        for (int j = 0; j < n; j += 8) {
            const uint8_t *b = row + (g0 + j) / 8 * (kind == KIND_Q4_K ? 144 : 176);
            const float d = half_at(b), dmin = half_at(b + 2);
            for (int s = 0; s < 8; s++) {
                int sc, m;
                k4_scale_min(b + 4, s, &sc, &m);
                ds[j + s] = d * (float)sc;
                dm[j + s] = dmin * (float)m;
            }
        }
    } else {
        for (int j = 0; j < n; j += 8) {
            const uint8_t *b = row + (g0 + j) / 8 * 210;
            _mm512_storeu_ps(ds + 2 * j, _mm512_mul_ps(_mm512_set1_ps(half_at(b + 208)),
                                                       _mm512_cvtepi32_ps(bytes_s(b + 192))));
        }
    }
}

/* off[t] += dm[g] * xsum[t][g] lane by lane for groups g0..g1 (dm from g0, the sums of x per group, rows ng apart). */
INLINE_AVX512 void add_offsets(const int T, const float *dm, const float *xsum, int64_t ng, int64_t g0, int64_t g1,
                               __m512 *off) {
    for (int64_t g = g0; g < g1; g += 16) {
        const __mmask16 in = g1 - g >= 16 ? 0xFFFF : (__mmask16)((1u << (g1 - g)) - 1);
        const __m512 m = _mm512_maskz_loadu_ps(in, dm + g - g0);
        for (int t = 0; t < T; t++) off[t] = _mm512_fmadd_ps(m, _mm512_maskz_loadu_ps(in, xsum + t * ng + g), off[t]);
    }
}

/* y[t * ys + row + i] for R weight rows from row and T activation rows (R * T <= 8): an accumulator (and for Q4_K,
 * Q5_K an offset) for each, whose operations do not depend on R or T. */
INLINE_AVX512 void fp32_rows(const int kind, const int R, const int T, const uint8_t *codes, int64_t row_bytes,
                             int64_t row, const quantized_act *a, const float *bias, float *y, int64_t ys) {
    const int k4 = kind == KIND_Q4_K || kind == KIND_Q5_K, per = unit_groups(kind), per_group = kind == KIND_Q6_K ? 2 : 1;
    const int64_t k = a->k, ng = k / GROUP;
    __m512 acc[8], off[8];
    float ds[4][2 * SCALE_CHUNK], dm[4][SCALE_CHUNK];
    for (int c = 0; c < R * T; c++) acc[c] = off[c] = _mm512_setzero_ps();
    for (int64_t g0 = 0; g0 < ng; g0 += SCALE_CHUNK) {
        const int64_t g1 = g0 + SCALE_CHUNK < ng ? g0 + SCALE_CHUNK : ng;
        for (int i = 0; i < R; i++) {
            chunk_scales(kind, codes + (row + i) * row_bytes, g0, g1, ds[i], dm[i]);
            if (k4) add_offsets(T, dm[i], a->xsum, ng, g0, g1, off + i * T);
        }
        for (int64_t g = g0; g < g1; g += per) {
            const unit_act u = {a->x + g * GROUP, k};
            for (int i = 0; i < R; i++)
                row_unit(kind, T, codes + (row + i) * row_bytes, g, ds[i] + (g - g0) * per_group, &u, acc + i * T);
        }
    }
    for (int i = 0; i < R; i++)
        for (int t = 0; t < T; t++) {
            const float dot = _mm512_reduce_add_ps(acc[i * T + t]);
            y[t * ys + row + i] = (k4 ? dot - _mm512_reduce_add_ps(off[i * T + t]) : dot) + (bias ? bias[row + i] : 0.0f);
        }
}

/* Rows r0..r1 of one kind for every activation row (FOR_ROW_TILES). */
INLINE_AVX512 void fp32_block(const int kind, const packed_linear *w, int64_t r0, int64_t r1, const quantized_act *a,
                              float *y, int64_t ys) {
    const int64_t row_bytes = packed_row_bytes(kind, w->k);
    int64_t row = r0;
#define TILE(R, T) fp32_rows(kind, R, T, w->codes, row_bytes, row, a, w->bias, y, ys)
    FOR_ROW_TILES(a->rows, row, r1, TILE)
#undef TILE
}

__attribute__((target(AVX512_TARGET))) void avx512_block_rows(const packed_linear *w, int64_t r0, int64_t r1,
                                                              const quantized_act *a, float *y, int64_t ys) {
    switch (w->kind) {
        case KIND_Q8_0: fp32_block(KIND_Q8_0, w, r0, r1, a, y, ys); break;
        case KIND_Q5_0: fp32_block(KIND_Q5_0, w, r0, r1, a, y, ys); break;
        case KIND_Q4_K: fp32_block(KIND_Q4_K, w, r0, r1, a, y, ys); break;
        case KIND_Q5_K: fp32_block(KIND_Q5_K, w, r0, r1, a, y, ys); break;
        case KIND_Q6_K: fp32_block(KIND_Q6_K, w, r0, r1, a, y, ys); break;
        default: break;
    }
}
