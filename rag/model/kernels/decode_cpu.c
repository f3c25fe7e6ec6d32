/* One batch-1 decode step of a Llama / Qwen2 transformer with packed (Q4 / Q8) Linears, in one OpenMP region.
 *
 * The same math as rag/model/decode.py's FastDecoder.step (and Transformer.forward, the reference):
 * per block, RMSNorm -> fused qkv (+ bias) -> rotate-half RoPE on q, k -> K/V written to the cache at
 * pos -> grouped-query softmax attention over positions 0..pos -> output projection -> residual ->
 * RMSNorm -> fused gate/up -> SiLU(gate) * up -> down projection -> residual; then the final RMSNorm.
 * The output head stays in Python (RescoredHead). Matmuls run packed_rows (int16 activations, fp32 sums)
 * split across the region's threads; the small vector work runs on one thread between barriers, so a
 * step costs one fork/join instead of thousands of framework ops.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "packed.h"

typedef struct {
    const float *attn_norm, *ffn_norm;  /* (dim) */
    packed_linear qkv, out, gate_up, down;
    float *k_cache, *v_cache;           /* (n_kv_heads, max_seq, head_dim) */
} packed_layer;

typedef struct {
    int64_t dim, hidden, n_heads, n_kv_heads, head_dim, max_seq, n_layers;
    float eps;
    const packed_layer *layers;
    const float *output_norm;
} packed_model;

typedef struct {
    float *x, *h, *qkv, *att, *tmp, *gate_up, *act, *scores;
    quantized_act q;
} work;

static int64_t max3(int64_t a, int64_t b, int64_t c) {
    const int64_t ab = a > b ? a : b;
    return ab > c ? ab : c;
}

static void rms_norm(const float *x, const float *w, float *out, int64_t n, float eps) {
    float ss = 0.0f;
    for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
    const float inv = 1.0f / sqrtf(ss / (float)n + eps);
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * inv * w[i];
}

static void rope(float *v, const float *cos, const float *sin, int64_t d) {
    const int64_t half = d / 2;
    for (int64_t i = 0; i < half; i++) {
        const float a = v[i], b = v[i + half];
        v[i] = a * cos[i] - b * sin[i];
        v[i + half] = b * cos[i + half] + a * sin[i + half];
    }
}

static float dot(const float *a, const float *b, int64_t d) {
    int64_t i = 0;
    __m256 acc = _mm256_setzero_ps();
    for (; i + 8 <= d; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
    float s = hsum8(acc);
    for (; i < d; i++) s += a[i] * b[i];
    return s;
}

/* out (d) = softmax(q . K[t] * scale over t < n) weighted sum of V[t]; scores has room for n floats. */
static void attend(const float *q, const float *k, const float *v, float *scores, float *out, int64_t n, int64_t d,
                   float scale) {
    float best = -INFINITY, total = 0.0f;
    for (int64_t t = 0; t < n; t++) {
        scores[t] = dot(q, k + t * d, d) * scale;
        best = scores[t] > best ? scores[t] : best;
    }
    for (int64_t t = 0; t < n; t++) {
        scores[t] = expf(scores[t] - best);
        total += scores[t];
    }
    memset(out, 0, sizeof(float) * d);
    for (int64_t t = 0; t < n; t++) {
        const float p = scores[t] / total, *vt = v + t * d;
        for (int64_t j = 0; j < d; j++) out[j] += p * vt[j];
    }
}

/* y = W x (+ bias) for the activation already quantised into w; worksharing, ends with a barrier. */
static void linear(const packed_linear *l, work *w, float *y) {
    packed_rows(l, &w->q, y);
    if (l->bias) {
#pragma omp for schedule(static)
        for (int64_t i = 0; i < l->n; i++) y[i] += l->bias[i];
    }
}

static void quantize(work *w, const float *x, int64_t k) { quantize_act(x, &w->q, k); }

static void block(const packed_model *m, const packed_layer *L, work *w, const float *cos, const float *sin, int64_t pos) {
    const int64_t hq = m->n_heads, hkv = m->n_kv_heads, d = m->head_dim, rep = hq / hkv, n = pos + 1;
#pragma omp single
    {
        rms_norm(w->x, L->attn_norm, w->h, m->dim, m->eps);
        quantize(w, w->h, m->dim);
    }
    linear(&L->qkv, w, w->qkv);
#pragma omp single
    {
        for (int64_t h = 0; h < hq + hkv; h++) rope(w->qkv + h * d, cos, sin, d);
        for (int64_t h = 0; h < hkv; h++) {
            memcpy(L->k_cache + (h * m->max_seq + pos) * d, w->qkv + (hq + h) * d, sizeof(float) * d);
            memcpy(L->v_cache + (h * m->max_seq + pos) * d, w->qkv + (hq + hkv + h) * d, sizeof(float) * d);
        }
    }
    const float scale = 1.0f / sqrtf((float)d);
#pragma omp for schedule(static)
    for (int64_t h = 0; h < hq; h++) {
        const int64_t kv = h / rep;
        attend(w->qkv + h * d, L->k_cache + kv * m->max_seq * d, L->v_cache + kv * m->max_seq * d,
               w->scores + h * n, w->att + h * d, n, d, scale);
    }
#pragma omp single
    quantize(w, w->att, hq * d);
    linear(&L->out, w, w->tmp);
#pragma omp single
    {
        for (int64_t i = 0; i < m->dim; i++) w->x[i] += w->tmp[i];
        rms_norm(w->x, L->ffn_norm, w->h, m->dim, m->eps);
        quantize(w, w->h, m->dim);
    }
    linear(&L->gate_up, w, w->gate_up);
#pragma omp single
    {
        for (int64_t i = 0; i < m->hidden; i++) {
            const float g = w->gate_up[i];
            w->act[i] = g / (1.0f + expf(-g)) * w->gate_up[m->hidden + i];
        }
        quantize(w, w->act, m->hidden);
    }
    linear(&L->down, w, w->tmp);
#pragma omp single
    for (int64_t i = 0; i < m->dim; i++) w->x[i] += w->tmp[i];
}

/* Feed one token (its embedding row) at pos; writes each block's K/V at pos and the final normed hidden state
 * (dim) into out. 0, -1 for a position outside the cache, -2 without memory. */
int packed_decode_step(const packed_model *m, const float *embedding, const float *cos, const float *sin, int64_t pos,
                       float *out, int threads) {
    if (pos < 0 || pos >= m->max_seq) return -1;
    const int64_t dim = m->dim, qkv = (m->n_heads + 2 * m->n_kv_heads) * m->head_dim;
    const int64_t att = m->n_heads * m->head_dim, widest = max3(dim, att, m->hidden);  /* longest quantised input */
    const int64_t floats = 3 * dim + qkv + att + 3 * m->hidden + m->n_heads * (pos + 1) + 2 * (widest / GROUP + 1);
    float *buf = malloc(sizeof(float) * floats);
    int16_t *xq = malloc(sizeof(int16_t) * widest);
    if (!buf || !xq) {
        free(buf);
        free(xq);
        return -2;
    }
    work w = {.x = buf};
    w.h = w.x + dim;
    w.tmp = w.h + dim;
    w.qkv = w.tmp + dim;
    w.att = w.qkv + qkv;
    w.gate_up = w.att + att;
    w.act = w.gate_up + 2 * m->hidden;
    w.scores = w.act + m->hidden;
    w.q.scale = w.scores + m->n_heads * (pos + 1);
    w.q.xsum = w.q.scale + widest / GROUP + 1;
    w.q.xq = xq;
    memcpy(w.x, embedding, sizeof(float) * dim);
#pragma omp parallel num_threads(threads)
    for (int64_t i = 0; i < m->n_layers; i++) block(m, &m->layers[i], &w, cos, sin, pos);
    rms_norm(w.x, m->output_norm, out, dim, m->eps);
    free(buf);
    free(xq);
    return 0;
}
