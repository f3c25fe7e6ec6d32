/* The AVX-512 VNNI path of the KIND_Q4 / KIND_Q8 matmul (layouts and numerics in packed.h), chosen at run time: its
 * functions carry their own target attribute, so the library still loads on AVX2-only CPUs, and runs packed_cpu.c's
 * path there or after packed_set_avx512(0).
 *
 * Groups go four at a time (a block, 128 weights). Per block and activation row: four vpdpwssd (exact int32 dot
 * products, as pmaddwd and add are: 8 products of |q| <= 128 and |xq| <= 32767 a lane), one conversion and one
 * fused multiply-add by the four groups' d * scale broadcast to every 128-bit lane; the AVX2 path spends two
 * pmaddwd, an add, a conversion, a broadcast and a multiply-add on every group. The weight block is decoded once for
 * all activation rows: a dword transpose puts dword c of group b in int32 lane 4c + b, then a nibble (Q4) or byte
 * (Q8) split gives four operands whose activation order (wide_index) quantize_act writes beside xq.
 * Each output sums its blocks in order in 16 lanes and its offsets (m * xsum) in 16 more, adds the two lane by lane,
 * sums the lanes and adds its bias: no step depends on the number of weight or activation rows or of threads, so a
 * batch of rows gives bit for bit the results of one row at a time. The order differs from the AVX2 path's, which it
 * matches to ~1e-7.
 */
#include "packed.h"

static int enabled; /* off until packed_set_avx512 turns it on */

int packed_avx512(void) { return enabled; }

/* Ask for the AVX-512 kernels (on != 0) or the AVX2 ones; whether the AVX-512 ones are on now. */
int packed_set_avx512(int on) {
    __builtin_cpu_init();
    enabled = on && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
              __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    return enabled;
}

/* The four operands of weight row `row`'s block of groups g..g+n-1 (n <= 4; the missing groups read as zeros). */
INLINE_AVX512 void block_codes(const int kind, const packed_linear *w, int64_t row, int64_t g, int n, __m512i op[4]) {
    if (kind == KIND_Q4) {
        /* 16 bytes a group. After the transpose, 16-bit word h of lane 4c + b holds bytes j, j + 1 of group b
         * (j = 4c + 2h): elements j, j + 16 (low, high nibble of byte j) and j + 1, j + 17. */
        const __m512i transpose = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        const __m512i nibble = _mm512_set1_epi16(0x0F);
        const __m512i codes = _mm512_maskz_loadu_epi32((__mmask16)((1u << 4 * n) - 1),
                                                       w->codes + row * (w->k / 2) + g * (GROUP / 2));
        const __m512i p = _mm512_permutexvar_epi32(transpose, codes);
        op[0] = _mm512_and_si512(p, nibble);                        /* element j */
        op[1] = _mm512_and_si512(_mm512_srli_epi16(p, 8), nibble);  /* j + 1 */
        op[2] = _mm512_and_si512(_mm512_srli_epi16(p, 4), nibble);  /* j + 16 */
        op[3] = _mm512_srli_epi16(p, 12);                           /* j + 17 */
    } else {
        /* 32 bytes a group, two groups a load. After the transposes, word h of lane 4c + b holds int8 elements j, j + 1
         * (lo) or j + 16, j + 17 (hi) of group b, sign-extended apart. */
        const __m512i first = _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
        const __m512i second = _mm512_add_epi32(first, _mm512_set1_epi32(4));
        const uint32_t dwords = n == 4 ? 0xFFFFFFFFu : (1u << 8 * n) - 1;
        const int8_t *q = (const int8_t *)w->codes + row * w->k + g * GROUP;
        const __m512i z0 = _mm512_maskz_loadu_epi32((__mmask16)dwords, q);
        const __m512i z1 = _mm512_maskz_loadu_epi32((__mmask16)(dwords >> 16), q + 64);
        const __m512i lo = _mm512_permutex2var_epi32(z0, first, z1), hi = _mm512_permutex2var_epi32(z0, second, z1);
        op[0] = _mm512_srai_epi16(_mm512_slli_epi16(lo, 8), 8);
        op[1] = _mm512_srai_epi16(lo, 8);
        op[2] = _mm512_srai_epi16(_mm512_slli_epi16(hi, 8), 8);
        op[3] = _mm512_srai_epi16(hi, 8);
    }
}

/* For weight row `row`, groups g0..g1 (g0 a multiple of 16) and activation rows 0..T-1: ds[t][g - g0] = d[g] * scale[g]
 * (zeros past g1, to a multiple of 16) and off[t] += m[g] * xsum[g] lane by lane; (d, m) converted once for all t. */
INLINE_AVX512 void block_scales(const int T, const packed_linear *w, const quantized_act *a, int64_t row, int64_t g0,
                                int64_t g1, float (*ds)[SCALE_CHUNK], __m512 *off) {
    const int64_t ng = w->k / GROUP;
    for (int64_t g = g0; g < g1; g += 16) {
        const __mmask16 in = g1 - g >= 16 ? 0xFFFF : (__mmask16)((1u << (g1 - g)) - 1);
        const __m512i pairs = _mm512_maskz_loadu_epi32(in, w->groups + (row * ng + g) * 2);  /* d low, m high */
        const __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(pairs));
        const __m512 m = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(pairs, 16)));
        for (int t = 0; t < T; t++) {
            _mm512_storeu_ps(ds[t] + g - g0, _mm512_mul_ps(d, _mm512_maskz_loadu_ps(in, a->scale + t * ng + g)));
            off[t] = _mm512_add_ps(off[t], _mm512_mul_ps(m, _mm512_maskz_loadu_ps(in, a->xsum + t * ng + g)));
        }
    }
}

/* y[t * ys + row + i] for R weight rows from row and T activation rows (R * T <= 8): an accumulation chain for each,
 * whose operations do not depend on R or T. */
INLINE_AVX512 void wide_rows(const int kind, const int R, const int T, const packed_linear *w, const quantized_act *a,
                             float *y, int64_t ys, int64_t row) {
    const int64_t ng = w->k / GROUP;
    __m512 acc[8], off[8];
    float ds[8][SCALE_CHUNK];
    for (int c = 0; c < R * T; c++) acc[c] = off[c] = _mm512_setzero_ps();
    for (int64_t g0 = 0; g0 < ng; g0 += SCALE_CHUNK) {
        const int64_t g1 = g0 + SCALE_CHUNK < ng ? g0 + SCALE_CHUNK : ng;
        for (int i = 0; i < R; i++) block_scales(T, w, a, row + i, g0, g1, ds + i * T, off + i * T);
        for (int64_t g = g0; g < g1; g += WIDE_GROUPS) {
            for (int i = 0; i < R; i++) {
                __m512i op[4];
                prefetch_ahead(kind, w, row + i, g);
                block_codes(kind, w, row + i, g, g1 - g < WIDE_GROUPS ? (int)(g1 - g) : WIDE_GROUPS, op);
                for (int t = 0; t < T; t++) {
                    const int16_t *x = a->xw + (g / WIDE_GROUPS * T + t) * WIDE_BLOCK;
                    __m512i dot = _mm512_dpwssd_epi32(_mm512_setzero_si512(), op[0], _mm512_loadu_si512(x));
                    for (int v = 1; v < 4; v++) dot = _mm512_dpwssd_epi32(dot, op[v], _mm512_loadu_si512(x + 32 * v));
                    const __m512 scales = _mm512_broadcast_f32x4(_mm_loadu_ps(ds[i * T + t] + g - g0));
                    acc[i * T + t] = _mm512_fmadd_ps(scales, _mm512_cvtepi32_ps(dot), acc[i * T + t]);
                }
            }
        }
    }
    for (int i = 0; i < R; i++)
        for (int t = 0; t < T; t++)
            y[t * ys + row + i] = _mm512_reduce_add_ps(_mm512_add_ps(acc[i * T + t], off[i * T + t])) +
                                  (w->bias ? w->bias[row + i] : 0.0f);
}

/* Rows n0..n1 for every activation row (FOR_ROW_TILES). */
INLINE_AVX512 void wide_block(const int kind, const packed_linear *w, const quantized_act *a, float *y, int64_t ys,
                              int64_t n0, int64_t n1) {
    int64_t row = n0;
#define TILE(R, T) wide_rows(kind, R, T, w, a, y, ys, row)
    FOR_ROW_TILES(a->rows, row, n1, TILE)
#undef TILE
}

__attribute__((target(AVX512_TARGET))) void avx512_rows(const packed_linear *w, const quantized_act *a, float *y,
                                                        int64_t ys, int64_t n0, int64_t n1) {
    if (w->kind == KIND_Q4)
        wide_block(KIND_Q4, w, a, y, ys, n0, n1);
    else
        wide_block(KIND_Q8, w, a, y, ys, n0, n1);
}
