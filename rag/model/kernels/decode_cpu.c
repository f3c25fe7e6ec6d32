/* A decode step of T tokens (1, or a speculative draft) of a Llama / Qwen2 transformer with packed Linears (packed.h),
 * in one OpenMP region.
 *
 * The same math as rag/model/decode.py's FastDecoder.step (and Transformer.forward, the reference), for each row:
 * per block, RMSNorm -> fused qkv (+ bias) -> rotate-half RoPE on q, k -> K/V written to the cache at
 * pos -> grouped-query softmax attention over positions 0..pos -> output projection -> residual ->
 * RMSNorm -> fused gate/up -> SiLU(gate) * up -> down projection -> residual; then the final RMSNorm.
 * The output head stays in Python (RescoredHead). Row t sits at position pos + t and attends to 0..pos + t; its
 * results are bit for bit those of a step of that token alone (each output of a matmul and each attention partial
 * is summed in an order that does not depend on T), so a verified draft is exactly plain decoding.
 *
 * Five barriers a block, one after each step whose result every thread needs: the four matmuls
 * (packed_rows, rows of W split across threads) and attention. Attention is split by position
 * (flash-decoding): each thread scores its range of positions for every head and leaves a partial
 * (max, sum, weighted V); for one row the thread owning pos writes its K/V first, for several rows every K/V is
 * written before a sixth barrier. The KV cache is fp16 (half the bytes a step reads at long contexts), converted
 * with F16C on the way in and out, or fp32 (packed_model.kv_fp32: K and V unrounded, for parity with an fp32
 * model); the same loops read either, compiled once for each. Everything between barriers (norms,
 * RoPE of q, merging partials, SiLU, activation quantisation) is small and every thread computes it into
 * its own buffers, which is cheaper than a serial section and the barrier it needs.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "packed.h"

typedef struct {
    const float *attn_norm, *ffn_norm;  /* (dim) */
    fused_linear qkv, out, gate_up, down;
    void *k_cache, *v_cache;            /* (n_kv_heads, max_seq, head_dim) fp16, or fp32 where kv_fp32 */
} packed_layer;

typedef struct {
    int64_t dim, hidden, n_heads, n_kv_heads, head_dim, max_seq, n_layers;
    float eps;
    const packed_layer *layers;
    const float *output_norm;
    int64_t kv_fp32;  /* 1: the KV caches hold fp32, 0: fp16 */
} packed_model;

typedef struct {
    int64_t rows, qkv_dim;        /* T, (q + 2 kv heads) * head_dim */
    float *qkv, *proj, *gate_up;  /* matmul outputs (T rows each): qkv_dim, dim, 2 * hidden */
    float *partial;               /* (T, threads, n_heads, head_dim + 2): weighted V, max score, sum of weights */
} shared_work;

typedef struct {
    float *x, *h, *q, *att, *act, *scores;  /* (T rows each) residual stream, normed, roped q, attention, SiLU; scores */
    quantized_act in;                       /* this thread's copy of the quantised matmul input */
} thread_work;

static int64_t max3(int64_t a, int64_t b, int64_t c) {
    const int64_t ab = a > b ? a : b;
    return ab > c ? ab : c;
}

/* e^x for 8 lanes (x <= 88.3; below -87.3 gives 0): 2^n * p(r), x = n ln2 + r, |r| <= ln2 / 2, ~2 ulp. */
static inline __m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3f), hi = _mm256_set1_ps(88.3f);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);  /* ln2 split in two for an exact r */
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

/* y[i] = e^x[i]: exp8 over a whole array (exported so tests compare it with the C library's expf). */
void packed_exp(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float in[8] = {0}, out[8];
        memcpy(in, x + i, sizeof(float) * (n - i));
        _mm256_storeu_ps(out, exp8(_mm256_loadu_ps(in)));
        memcpy(y + i, out, sizeof(float) * (n - i));
    }
}

static void rms_norm(const float *x, const float *w, float *out, int64_t n, float eps) {
    float ss = 0.0f;
    for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
    const float inv = 1.0f / sqrtf(ss / (float)n + eps);
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * inv * w[i];
}

static void rope(const float *v, const float *cos, const float *sin, float *out, int64_t d) {
    const int64_t half = d / 2;
    for (int64_t i = 0; i < half; i++) {
        const float a = v[i], b = v[i + half];
        out[i] = a * cos[i] - b * sin[i];
        out[i + half] = b * cos[i + half] + a * sin[i + half];
    }
}

/* KV cache values as fp32: 8 from element i of c on, or one; fp32 says whether c holds fp32 or fp16 and is a
 * constant wherever these inline, so each cache type gets its own loops. */
#define KV_INLINE static inline __attribute__((always_inline))
KV_INLINE __m256 kv_load8(const void *c, int64_t i, const int fp32) {
    if (fp32) return _mm256_loadu_ps((const float *)c + i);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)c + i)));
}

KV_INLINE float kv_load1(const void *c, int64_t i, const int fp32) {
    return fp32 ? ((const float *)c)[i] : _cvtsh_ss(((const uint16_t *)c)[i]);
}

/* Element i of a cache of either type. */
static const void *kv_at(const void *c, int64_t i, int fp32) {
    return (const char *)c + i * (fp32 ? sizeof(float) : sizeof(uint16_t));
}

/* a (d) fp32 . b (d) of the cache. */
KV_INLINE float dot_kv(const float *a, const void *b, int64_t d, const int fp32) {
    int64_t i = 0;
    __m256 acc = _mm256_setzero_ps();
    for (; i + 8 <= d; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), kv_load8(b, i, fp32), acc);
    float s = hsum8(acc);
    for (; i < d; i++) s += a[i] * kv_load1(b, i, fp32);
    return s;
}

/* dst (d) fp16 = src (d) rounded to nearest even, as torch's fp32 -> fp16 cast. */
static void store_half(uint16_t *dst, const float *src, int64_t d) {
    int64_t i = 0;
    for (; i + 8 <= d; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < d; i++) dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

/* Row at of the cache (d values) = src, rounded to fp16 or copied. */
static void store_kv_row(void *c, int64_t at, const float *src, int64_t d, int fp32) {
    if (fp32)
        memcpy((float *)c + at, src, sizeof(float) * d);
    else
        store_half((uint16_t *)c + at, src, d);
}

/* out (d) += p * v (d) of the cache. */
KV_INLINE void axpy_kv(float p, const void *v, float *out, int64_t d, const int fp32) {
    int64_t j = 0;
    const __m256 pv = _mm256_set1_ps(p);
    for (; j + 8 <= d; j += 8)
        _mm256_storeu_ps(out + j, _mm256_fmadd_ps(pv, kv_load8(v, j, fp32), _mm256_loadu_ps(out + j)));
    for (; j < d; j++) out[j] += p * kv_load1(v, j, fp32);
}

/* out (d) += p * v (d). */
static void axpy(float p, const float *v, float *out, int64_t d) {
    int64_t j = 0;
    const __m256 pv = _mm256_set1_ps(p);
    for (; j + 8 <= d; j += 8)
        _mm256_storeu_ps(out + j, _mm256_fmadd_ps(pv, _mm256_loadu_ps(v + j), _mm256_loadu_ps(out + j)));
    for (; j < d; j++) out[j] += p * v[j];
}

/* scores[i] = (q . k_i) * scale for n cache rows of D values: dot_kv's operations for each, with q held in
 * registers and four rows' chains side by side. */
KV_INLINE void score_rows(const int D, const float *q, const void *k, float *scores, int64_t n, float scale,
                          const int fp32) {
    __m256 qv[D / 8];
    for (int c = 0; c < D / 8; c++) qv[c] = _mm256_loadu_ps(q + 8 * c);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int c = 0; c < D / 8; c++)
            for (int r = 0; r < 4; r++) acc[r] = _mm256_fmadd_ps(qv[c], kv_load8(k, (i + r) * D + 8 * c, fp32), acc[r]);
        for (int r = 0; r < 4; r++) scores[i + r] = hsum8(acc[r]) * scale;
    }
    for (; i < n; i++) scores[i] = dot_kv(q, kv_at(k, i * D, fp32), D, fp32) * scale;
}

/* part (D) += sum_i w_i v_i over n cache rows in order: axpy_kv's operations for each, the sums held in registers. */
KV_INLINE void weigh_rows(const int D, const float *w, const void *v, int64_t n, float *part, const int fp32) {
    __m256 acc[D / 8];
    for (int c = 0; c < D / 8; c++) acc[c] = _mm256_loadu_ps(part + 8 * c);
    for (int64_t i = 0; i < n; i++) {
        const __m256 pv = _mm256_set1_ps(w[i]);
        for (int c = 0; c < D / 8; c++) acc[c] = _mm256_fmadd_ps(pv, kv_load8(v, i * D + 8 * c, fp32), acc[c]);
    }
    for (int c = 0; c < D / 8; c++) _mm256_storeu_ps(part + 8 * c, acc[c]);
}

/* Partial attention of one head over positions t0..t1-1 of its K, V cache rows (d values each): part =
 * (sum_t w_t V[t], max score, sum_t w_t), w_t = exp(score_t - max); an empty range leaves max = -inf and sums 0.
 * Head size 64 (SmolLM2, Llama 3.2 1B) takes the register-held loops, others dot_kv / axpy_kv; the operations on
 * each score and sum are the same. */
KV_INLINE void attend_rows(const float *q, const void *k, const void *v, float *scores, float *part, int64_t t0,
                           int64_t t1, int64_t d, float scale, const int fp32) {
    const int64_t n = t1 - t0;
    float best = -INFINITY, total = 0.0f;
    memset(part, 0, sizeof(float) * d);
    if (d == 64)
        score_rows(64, q, kv_at(k, t0 * d, fp32), scores, n, scale, fp32);
    else
        for (int64_t i = 0; i < n; i++) scores[i] = dot_kv(q, kv_at(k, (t0 + i) * d, fp32), d, fp32) * scale;
    for (int64_t i = 0; i < n; i++) best = scores[i] > best ? scores[i] : best;
    for (int64_t i = 0; i < n; i++) scores[i] -= best;
    packed_exp(scores, scores, n);
    for (int64_t i = 0; i < n; i++) total += scores[i];
    if (d == 64)
        weigh_rows(64, scores, kv_at(v, t0 * d, fp32), n, part, fp32);
    else
        for (int64_t i = 0; i < n; i++) axpy_kv(scores[i], kv_at(v, (t0 + i) * d, fp32), part, d, fp32);
    part[d] = best;
    part[d + 1] = total;
}

/* attend_rows on an fp16 or an fp32 cache. */
static void attend_range(const float *q, const void *k, const void *v, float *scores, float *part, int64_t t0,
                         int64_t t1, int64_t d, float scale, int fp32) {
    if (fp32)
        attend_rows(q, k, v, scores, part, t0, t1, d, scale, 1);
    else
        attend_rows(q, k, v, scores, part, t0, t1, d, scale, 0);
}

/* out (d) = the softmax-weighted V of one head, from every thread's partial (stride between threads). */
static void merge_partials(const float *part, int64_t stride, int threads, float *out, int64_t d) {
    float best = -INFINITY, total = 0.0f;
    for (int t = 0; t < threads; t++) best = part[t * stride + d] > best ? part[t * stride + d] : best;
    memset(out, 0, sizeof(float) * d);
    for (int t = 0; t < threads; t++) {
        const float *p = part + t * stride;
        if (p[d + 1] == 0.0f) continue;
        const float w = expf(p[d] - best);
        total += w * p[d + 1];
        axpy(w, p, out, d);
    }
    const float inv = 1.0f / total;
    for (int64_t j = 0; j < d; j++) out[j] *= inv;
}

static void silu_mul(const float *gate_up, float *act, int64_t hidden) {
    int64_t i = 0;
    for (; i + 8 <= hidden; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate_up + i);
        const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
        const __m256 s = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        _mm256_storeu_ps(act + i, _mm256_mul_ps(s, _mm256_loadu_ps(gate_up + hidden + i)));
    }
    for (; i < hidden; i++) act[i] = gate_up[i] / (1.0f + expf(-gate_up[i])) * gate_up[hidden + i];
}

/* Rotated K and V of row t written to the cache at pos + t. */
static void store_kv(const packed_model *m, const packed_layer *L, const shared_work *s, thread_work *w,
                     const float *cos, const float *sin, int64_t pos, int64_t t) {
    const int64_t hq = m->n_heads, hkv = m->n_kv_heads, d = m->head_dim, p = pos + t;
    const float *qkv = s->qkv + t * s->qkv_dim;
    for (int64_t h = 0; h < hkv; h++) {
        rope(qkv + (hq + h) * d, cos + p * d, sin + p * d, w->q, d);
        store_kv_row(L->k_cache, (h * m->max_seq + p) * d, w->q, d, m->kv_fp32);
        store_kv_row(L->v_cache, (h * m->max_seq + p) * d, qkv + (hq + hkv + h) * d, d, m->kv_fp32);
    }
}

static void attention(const packed_model *m, const packed_layer *L, const shared_work *s, thread_work *w,
                      const float *cos, const float *sin, int64_t pos, int tid, int threads) {
    const int64_t hq = m->n_heads, hkv = m->n_kv_heads, d = m->head_dim, stride = hq * (d + 2), T = s->rows;
    if (T == 1) {
        if (pos + 1 == (pos + 1) * (tid + 1) / threads) store_kv(m, L, s, w, cos, sin, pos, 0);  /* owns pos */
    } else {
        for (int64_t t = tid; t < T; t += threads) store_kv(m, L, s, w, cos, sin, pos, t);
#pragma omp barrier
    }
    const float scale = 1.0f / sqrtf((float)d);
    for (int64_t t = 0; t < T; t++) {
        const int64_t n = pos + t + 1, t0 = n * tid / threads, t1 = n * (tid + 1) / threads;
        const float *qkv = s->qkv + t * s->qkv_dim, *cos_p = cos + (pos + t) * d, *sin_p = sin + (pos + t) * d;
        float *q = w->q + t * hq * d;
        for (int64_t h = 0; h < hq; h++) rope(qkv + h * d, cos_p, sin_p, q + h * d, d);
        for (int64_t h = 0; h < hq; h++) {
            const int64_t kv = h / (hq / hkv), head = kv * m->max_seq * d;  /* its cache rows start there */
            attend_range(q + h * d, kv_at(L->k_cache, head, m->kv_fp32), kv_at(L->v_cache, head, m->kv_fp32),
                         w->scores, s->partial + (t * threads + tid) * stride + h * (d + 2), t0, t1, d, scale,
                         (int)m->kv_fp32);
        }
    }
#pragma omp barrier
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < hq; h++)
            merge_partials(s->partial + t * threads * stride + h * (d + 2), stride, threads, w->att + (t * hq + h) * d, d);
}

/* The matmul input: rows of x (T, k) quantised into this thread's buffers. */
static void quantize_rows(thread_work *w, const float *x, int64_t rows, int64_t k) {
    w->in.rows = rows;
    w->in.k = k;
    w->in.x = x;
    quantize_act(x, &w->in);
}

static void block(const packed_model *m, const packed_layer *L, const shared_work *s, thread_work *w,
                  const float *cos, const float *sin, int64_t pos, int tid, int threads) {
    const int64_t T = s->rows, dim = m->dim, hidden = m->hidden, att = m->n_heads * m->head_dim;
    for (int64_t t = 0; t < T; t++) rms_norm(w->x + t * dim, L->attn_norm, w->h + t * dim, dim, m->eps);
    quantize_rows(w, w->h, T, dim);
    fused_rows(&L->qkv, &w->in, s->qkv, s->qkv_dim);
    attention(m, L, s, w, cos, sin, pos, tid, threads);
    quantize_rows(w, w->att, T, att);
    fused_rows(&L->out, &w->in, s->proj, dim);
    for (int64_t i = 0; i < T * dim; i++) w->x[i] += s->proj[i];
    for (int64_t t = 0; t < T; t++) rms_norm(w->x + t * dim, L->ffn_norm, w->h + t * dim, dim, m->eps);
    quantize_rows(w, w->h, T, dim);
    fused_rows(&L->gate_up, &w->in, s->gate_up, 2 * hidden);
    for (int64_t t = 0; t < T; t++) silu_mul(s->gate_up + t * 2 * hidden, w->act + t * hidden, hidden);
    quantize_rows(w, w->act, T, hidden);
    fused_rows(&L->down, &w->in, s->proj, dim);
    for (int64_t i = 0; i < T * dim; i++) w->x[i] += s->proj[i];
}

/* Feed T tokens (their embedding rows, (T, dim)) at positions pos..pos+T-1 with the RoPE tables cos, sin
 * (max_seq, head_dim); writes each block's K/V there and the final normed hidden states (T, dim) into out.
 * 0, -1 for positions outside the cache or T outside 1..MAX_ACT_ROWS, -2 without memory. */
int packed_decode(const packed_model *m, const float *embeddings, int64_t T, const float *cos, const float *sin,
                  int64_t pos, float *out, int threads) {
    if (pos < 0 || T < 1 || T > MAX_ACT_ROWS || pos + T > m->max_seq) return -1;
    if (threads < 1) threads = 1;
    const int64_t dim = m->dim, d = m->head_dim, att = m->n_heads * d, n = pos + T;
    const int64_t qkv = (m->n_heads + 2 * m->n_kv_heads) * d, widest = max3(dim, att, m->hidden);
    const int64_t partial = T * threads * m->n_heads * (d + 2);
    const int64_t shared_floats = T * (qkv + dim + 2 * m->hidden) + partial;
    const int64_t private_floats = T * (2 * dim + 2 * att + m->hidden) + n + 2 * T * (widest / GROUP + 1);
    float *buf = malloc(sizeof(float) * (shared_floats + threads * private_floats));
    const int64_t wide = packed_avx512() ? wide_k(widest) : 0;  /* the AVX-512 kernels' copy of the activations */
    int16_t *xq = malloc(sizeof(int16_t) * threads * T * (widest + wide));
    if (!buf || !xq) {
        free(buf);
        free(xq);
        return -2;
    }
    shared_work s = {.rows = T, .qkv_dim = qkv, .qkv = buf};
    s.proj = s.qkv + T * qkv;
    s.gate_up = s.proj + T * dim;
    s.partial = s.gate_up + T * 2 * m->hidden;
    float *first_private = s.partial + partial;
#pragma omp parallel num_threads(threads)
    {
        const int tid = omp_get_thread_num(), team = omp_get_num_threads();  /* team <= threads */
        thread_work w = {.x = first_private + tid * private_floats};
        w.h = w.x + T * dim;
        w.q = w.h + T * dim;
        w.att = w.q + T * att;
        w.act = w.att + T * att;
        w.scores = w.act + T * m->hidden;
        w.in.scale = w.scores + n;
        w.in.xsum = w.in.scale + T * (widest / GROUP + 1);
        w.in.xq = xq + tid * T * widest;
        w.in.xw = wide ? xq + threads * T * widest + tid * T * wide : NULL;
        memcpy(w.x, embeddings, sizeof(float) * T * dim);
        for (int64_t i = 0; i < m->n_layers; i++) block(m, &m->layers[i], &s, &w, cos, sin, pos, tid, team);
        if (tid == 0)
            for (int64_t t = 0; t < T; t++) rms_norm(w.x + t * dim, m->output_norm, out + t * dim, dim, m->eps);
    }
    free(buf);
    free(xq);
    return 0;
}
