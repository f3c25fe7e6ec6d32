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
 *
 * On a CPU with AVX-512 (F, BW, VL, VNNI), packed_avx512() on, two other kernels run, each with its own summation
 * order and the same guarantee of batch = one row at a time:
 *   KIND_Q4, KIND_Q8: packed_avx512.c, on the same int16 activations (agreeing with the AVX2 path to ~1e-7); it
 *     reads a second copy of them, xw, in its own order (wide_group and wide_slot below);
 *   the GGUF block kinds: blocks_avx512.c, on the fp32 activations themselves (x): the result is the fp32 matmul on
 *     the dequantised weight to fp32 rounding (~1e-7 relative, against ~1e-5 for int16 groups), which is what keeps
 *     a K-quant file's decode within ~1e-5 of its fp32 twin's logits.
 * Whoever quantises sets x, and sets xw to a buffer when packed_avx512() is on, else to NULL (fused_rows takes the
 * AVX-512 kernels for every kind exactly when xw is set). The AVX2 block kernels stay on int16 groups: decoding
 * codes to fp32 there (8 lanes) measured ~1.4x slower than pmaddwd on Q5_0 rows, the bulk of a Q4_K_M file.
 */
#ifndef RAG_PACKED_H
#define RAG_PACKED_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

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
    int16_t *xw;  /* rows * wide_k(K) values: xq in the AVX-512 kernels' order, or NULL where they are off */
    const float *x; /* (rows, K) the fp32 activations themselves, which the AVX-512 block kernels multiply */
} quantized_act;

/* The AVX-512 kernels take groups four at a time (WIDE_GROUPS, a block of 128 values, zeros past the last group of a
 * row). Their integer dot product puts group g0 + b of a block in int32 lanes b, 4 + b, 8 + b, 12 + b, so that one
 * broadcast of four scales lines up with it: the block is four 32-value operands v, each holding two values of every
 * group per 128-bit lane c. Element e of group b of a block sits at
 *   v = (e & 1) + 2 * (e >= 16), c = (e & 15) / 4, h = (e / 2) & 1:  v * 32 + c * 8 + b * 2 + h,
 * which is where the weight codes land after packed_avx512.c's dword transpose and nibble (or byte) split. The rows go
 * in passes of MAX_ACT_ROWS, as the matmul takes them; a pass holds its first block for each of its rows, then its
 * second, and so on, so that one pointer and constant offsets reach a block of every row. */
#define WIDE_GROUPS 4
#define WIDE_BLOCK (WIDE_GROUPS * GROUP)
static inline int64_t wide_k(int64_t k) { return (k + WIDE_BLOCK - 1) / WIDE_BLOCK * WIDE_BLOCK; }

/* Where group g of row r (of rows rows of k values) starts in xw, and where its element e sits from there. */
static inline int64_t wide_group(int64_t rows, int64_t k, int64_t r, int64_t g) {
    const int64_t first = r / MAX_ACT_ROWS * MAX_ACT_ROWS;
    const int64_t pass = rows - first < MAX_ACT_ROWS ? rows - first : MAX_ACT_ROWS;  /* rows in r's pass */
    return first * wide_k(k) + (g / WIDE_GROUPS * pass + r - first) * WIDE_BLOCK + (g % WIDE_GROUPS) * 2;
}
static inline int wide_slot(int e) { return ((e & 1) + 2 * (e >= 16)) * 32 + (e & 15) / 4 * 8 + (e / 2) % 2; }

/* Functions of the AVX-512 kernels carry this target, so the library still loads on AVX2-only CPUs. */
#define AVX512_TARGET "avx512f,avx512bw,avx512vl,avx512vnni"
#define INLINE_AVX512 static inline __attribute__((always_inline, target(AVX512_TARGET)))

/* The fp16 at p (unaligned) as fp32. */
static inline float half_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* Q4_K / Q5_K sub-block j's 6-bit scale and min out of the 12 packed bytes (get_scale_min_k4 in ggml-quants.c). */
static inline void k4_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* The sum of a vector's 8 lanes. */
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
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

/* The weight rows row..end tiled for `rows` activation rows (1..MAX_ACT_ROWS) so that each call of TILE(R, T) has
 * R weight rows and T activation rows as compile-time constants: four weight rows at a time for one activation row,
 * two for two, else one. TILE uses `row`. */
#define FOR_ROW_TILES(rows, row, end, TILE)                              \
    switch (rows) {                                                      \
        case 1:                                                          \
            for (; (row) + 4 <= (end); (row) += 4) TILE(4, 1);           \
            for (; (row) < (end); (row)++) TILE(1, 1);                   \
            break;                                                       \
        case 2:                                                          \
            for (; (row) + 2 <= (end); (row) += 2) TILE(2, 2);           \
            for (; (row) < (end); (row)++) TILE(1, 2);                   \
            break;                                                       \
        case 3: for (; (row) < (end); (row)++) TILE(1, 3); break;        \
        case 4: for (; (row) < (end); (row)++) TILE(1, 4); break;        \
        case 5: for (; (row) < (end); (row)++) TILE(1, 5); break;        \
        case 6: for (; (row) < (end); (row)++) TILE(1, 6); break;        \
        case 7: for (; (row) < (end); (row)++) TILE(1, 7); break;        \
        case 8: for (; (row) < (end); (row)++) TILE(1, 8); break;        \
        default: break;                                                  \
    }

/* x (rows, K) -> its int16 groups, scales and sums (a->rows, a->k and a->x = x set by the caller). */
void quantize_act(const float *x, const quantized_act *a);

/* y[r * y_stride + j] = (W x_r)[j] for every activation row r (at most MAX_ACT_ROWS) and output j of f: an
 * OpenMP worksharing loop over rows of W (call it inside a parallel region, or alone to run serially); adds
 * the biases. */
void fused_rows(const fused_linear *f, const quantized_act *a, float *y, int64_t y_stride);

/* The AVX-512 VNNI kernels (packed_avx512.c): whether they are on (packed_set_avx512 asks for them; they are
 * off until it does, and on only where the CPU has them), and rows n0..n1 of a KIND_Q4 / KIND_Q8 weight for every
 * activation row of a (a->xw set), as fused_rows' other kernels. */
int packed_avx512(void);
int packed_set_avx512(int on);
void avx512_rows(const packed_linear *w, const quantized_act *a, float *y, int64_t ys, int64_t n0, int64_t n1);

/* Bytes of one row of K values of a kind's codes. */
int64_t packed_row_bytes(int64_t kind, int64_t k);

/* The GGUF block kinds (blocks_cpu.c): values per block (0 for another kind); outputs r0..r1 of w for every
 * activation row (y[t * y_stride + r], bias added); one dequantised row of k values. */
int64_t block_values(int64_t kind);
void block_rows(const packed_linear *w, int64_t r0, int64_t r1, const quantized_act *a, float *y, int64_t y_stride);
void block_row_dequantize(int64_t kind, const uint8_t *row, float *out, int64_t k);

/* The block kinds' AVX-512 kernels (blocks_avx512.c), on a->x: block_rows' outputs r0..r1 for every activation row. */
void avx512_block_rows(const packed_linear *w, int64_t r0, int64_t r1, const quantized_act *a, float *y,
                       int64_t y_stride);

#endif
