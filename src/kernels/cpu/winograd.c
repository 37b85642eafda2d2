/* Winograd's F(2x2, 3x3) and F(4x4, 3x3) (further down), one image at a time (see
 * winograd.h). With
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1],
 * a tile's outputs are A^T M A with M = sum over c of (G g G^T) * (B^T d B), elementwise:
 * the cross-correlation that conv2d computes, each output row (and column) from the three
 * input rows under it. The transforms run eight tiles at a time in 8-float vectors (GCC
 * vector extensions, as gemm_small.c), the GEMMs on mt_k_gemm_nn. */
#include "kernels/cpu/winograd.h"

#include "kernels/cpu/gemm_small.h"
#include "kernels/cpu/im2col.h"

#include <stddef.h>

typedef float v8 __attribute__((vector_size(32)));
/* Unaligned 8-float loads and stores through im2col.h's vector type of alignment 4: each
 * is one instruction on its own register (copied through arrays of vectors with memcpy,
 * the loads went through the stack in halves, and the reload stalled on them). */
#define LD(p) (*(const mt_v8u *)(p))
#define ST(p, v) (*(mt_v8u *)(p) = (v))

/* Floats of V and M for one chunk of tile numbers: both stay in cache while the 16 GEMMs
 * of the chunk read them (the weight gradient's chunk: wgrad_chunk). */
#define CHUNK_FLOATS (1 << 13)
#define WGRAD_CHUNK_FLOATS (1 << 17)
/* F(4x4, 3x3)'s chunk, in L2: its 36 GEMMs per chunk were 40% of the layer at 16 tile
 * numbers (resnet8's 28x28 at 16 channels), 1.07 -> 0.95-1.05 ms at 56 (the whole image). */
#define CHUNK4_FLOATS (1 << 16)

/* Transform positions per tile: 4x4 or 6x6. */
static int64_t positions(int64_t tile) { return (tile + 2) * (tile + 2); }

int64_t mt_k_winograd_positions(const mt_winograd_plan *p) { return positions(p->tile); }

static mt_winograd_plan plan_of(int64_t C, int64_t O, int64_t H, int64_t W, int64_t tile) {
    mt_winograd_plan p = {.tile = tile, .C = C, .O = O, .OH = H, .OW = W, .stack = 1, .IH = H,
                          .TH = (H + tile - 1) / tile, .WQ = (W + tile - 1) / tile + 1};
    p.plane = (p.TH + 1) * p.WQ;
    p.phase = C * p.plane;
    if (p.phase % 512 == 0) p.phase += 16; /* phases a multiple of 2 KiB apart share L1 sets (28x28: 4 KiB) */
    p.NT = (p.TH * p.WQ + 7) / 8 * 8;
    p.NB = CHUNK_FLOATS / (positions(tile) * (C + O)) / 16 * 16;
    if (tile == 4) p.NB = CHUNK4_FLOATS / (36 * (C + O)) / 8 * 8;
    if (p.NB < 16) p.NB = 16;
    if (p.NB > p.NT) p.NB = p.NT;
    return p;
}

/* Small images (resnet8's 7x7: 8 tile numbers an image, too few for the GEMMs' 16
 * columns) whose H + 1 is a multiple of 4 go eight at a time. */
#define WINOGRAD_STACK 8
int64_t mt_k_winograd_stack(int64_t H, int64_t N) {
    if (H > 12 || (H + 1) % 4) return 1;
    return N < WINOGRAD_STACK ? N : WINOGRAD_STACK;
}

mt_winograd_plan mt_k_winograd_plan_stacked(int64_t C, int64_t O, int64_t H, int64_t W, int64_t k) {
    if (k <= 1) return mt_k_winograd_plan(C, O, H, W, 0);
    mt_winograd_plan p = plan_of(C, O, k * (H + 1) - 1, W, 4);
    p.stack = k;
    p.IH = H;
    return p;
}

/* Floats from one transform position's V (C x NB) or M (O x NB) to the next: padded off
 * multiples of 1 KiB, whose 16 or 36 streams would share L1 sets (64 channels, 16 tile
 * numbers: 4 KiB apart, and the 7x7 stack's transforms took twice as long). */
static int64_t pos_stride(int64_t floats) { return floats % 256 ? floats : floats + 16; }
static int64_t v_stride(const mt_winograd_plan *p) { return pos_stride(p->C * p->NB); }
static int64_t m_stride(const mt_winograd_plan *p) { return pos_stride(p->O * p->NB); }

int64_t mt_k_winograd_products(const mt_winograd_plan *p) { return positions(p->tile) * p->NT; }

/* The stride-4 phases of the padded image (H + 2 rows) have ceil((H + 2) / 4) rows, the
 * kernel's plane TH + 1: equal when H is 0 or 3 mod 4 (and likewise for W). */
static bool fits_tile4(int64_t H, int64_t W) { return (H % 4 == 0 || H % 4 == 3) && (W % 4 == 0 || W % 4 == 3); }

mt_winograd_plan mt_k_winograd_plan(int64_t C, int64_t O, int64_t H, int64_t W, int64_t tile) {
    if (tile) return plan_of(C, O, H, W, tile);
    const mt_winograd_plan p2 = plan_of(C, O, H, W, 2), p4 = plan_of(C, O, H, W, 4);
    return fits_tile4(H, W) && 3 * mt_k_winograd_products(&p4) <= 2 * mt_k_winograd_products(&p2) ? p4 : p2;
}

/* The last vector of tile numbers reads up to NT - 1 + WQ + 1 in the last plane of the
 * last phase: under 8 floats past the phases (plane = NT - (NT - TH * WQ) + WQ). */
int64_t mt_k_winograd_input_floats(const mt_winograd_plan *p) { return p->tile * p->tile * p->phase + 8; }

int64_t mt_k_winograd_scratch_floats(const mt_winograd_plan *p) { /* + what interleave reads past */
    return positions(p->tile) * (v_stride(p) + m_stride(p)) + p->tile * p->tile * p->O * p->NT + 8;
}

/* G's rows applied to (g0, g1, g2), by multiplications (64 -> 64 channels: divisions by 6,
 * 12 and 24 were a third of the 7x7 layer's forward). */
#define G6(o, g0, g1, g2)                                                                          \
    do {                                                                                           \
        const __typeof__((g0) + (g2)) s0_ = (g0) + (g2), e_ = (g0) * (1.0f / 24.0f) + (g2) * (1.0f / 6.0f); \
        (o)[0] = (g0) * 0.25f;                                                                     \
        (o)[1] = (s0_ + (g1)) * (-1.0f / 6.0f);                                                    \
        (o)[2] = (s0_ - (g1)) * (-1.0f / 6.0f);                                                    \
        (o)[3] = e_ + (g1) * (1.0f / 12.0f);                                                       \
        (o)[4] = e_ - (g1) * (1.0f / 12.0f);                                                       \
        (o)[5] = (g2);                                                                             \
    } while (0)

/* F(4x4, 3x3)'s U = G g G^T (6 x 6) of one 3x3 g into u, position 6 i + j at u[(6 i + j) * OC]. */
static void weights4(const float *g, float *u, int64_t OC) {
    float h[3][6]; /* (G g)^T: h[j][i] */
    for (int j = 0; j < 3; j++) G6(h[j], g[j], g[3 + j], g[6 + j]);
    for (int i = 0; i < 6; i++) { /* (G g) G^T, row i */
        float r[6];
        G6(r, h[0][i], h[1][i], h[2][i]);
        for (int j = 0; j < 6; j++) u[(6 * i + j) * OC] = r[j];
    }
}

void mt_k_winograd_weights(const mt_winograd_plan *p, const float *w, float *U, int64_t o0, int64_t o1) {
    const int64_t OC = p->O * p->C;
    if (p->tile == 4) { /* eight (o, c) pairs at a time in vectors, their 3x3s transposed through t */
        const int64_t end = o1 * p->C;
        int64_t q = o0 * p->C;
        for (; q + 8 <= end; q += 8) {
            float t[9][8];
            for (int k = 0; k < 8; k++)
                for (int e = 0; e < 9; e++) t[e][k] = w[(q + k) * 9 + e];
            v8 h[3][6]; /* (G g)^T */
            for (int j = 0; j < 3; j++) G6(h[j], LD(t[j]), LD(t[3 + j]), LD(t[6 + j]));
            for (int i = 0; i < 6; i++) {
                v8 r[6];
                G6(r, h[0][i], h[1][i], h[2][i]);
                for (int j = 0; j < 6; j++) ST(U + (6 * i + j) * OC + q, r[j]);
            }
        }
        for (; q < end; q++) weights4(w + q * 9, U + q, OC);
        return;
    }
    for (int64_t o = o0; o < o1; o++)
        for (int64_t c = 0; c < p->C; c++) {
            const float *g = w + (o * p->C + c) * 9;
            float h[4][3]; /* G g */
            for (int j = 0; j < 3; j++) {
                h[0][j] = g[j];
                h[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                h[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                h[3][j] = g[6 + j];
            }
            float *u = U + o * p->C + c;
            for (int i = 0; i < 4; i++) { /* (G g) G^T, row i */
                u[(4 * i + 0) * OC] = h[i][0];
                u[(4 * i + 1) * OC] = 0.5f * (h[i][0] + h[i][1] + h[i][2]);
                u[(4 * i + 2) * OC] = 0.5f * (h[i][0] - h[i][1] + h[i][2]);
                u[(4 * i + 3) * OC] = h[i][2];
            }
        }
}

/* ---- F(4x4, 3x3) -----------------------------------------------------------------------
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
 *   G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1],
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
 * The 1-D transforms below are macros over arrays of vectors (32-byte vectors are not
 * passed by value: gemm_small.c's LOAD8). */

/* o[0..5] = B^T d[0..5], with d4 - 4 d2 and d3 - 4 d1 (and d4 - d2, 2 (d3 - d1)) shared. */
#define BT6(o, d)                                                                                  \
    do {                                                                                           \
        const v8 p_ = (d)[4] - 4.0f * (d)[2], q_ = (d)[3] - 4.0f * (d)[1];                         \
        const v8 r_ = (d)[4] - (d)[2], s_ = 2.0f * ((d)[3] - (d)[1]);                              \
        (o)[0] = 4.0f * (d)[0] - 5.0f * (d)[2] + (d)[4];                                           \
        (o)[1] = p_ + q_;                                                                          \
        (o)[2] = p_ - q_;                                                                          \
        (o)[3] = r_ + s_;                                                                          \
        (o)[4] = r_ - s_;                                                                          \
        (o)[5] = 4.0f * (d)[1] - 5.0f * (d)[3] + (d)[5];                                           \
    } while (0)

/* o[0..3] = A^T m[0..5]. */
#define AT6(o, m)                                                                                  \
    do {                                                                                           \
        const v8 a_ = (m)[1] + (m)[2], b_ = (m)[1] - (m)[2], c_ = (m)[3] + (m)[4], d_ = (m)[3] - (m)[4]; \
        (o)[0] = (m)[0] + a_ + c_;                                                                 \
        (o)[1] = b_ + 2.0f * d_;                                                                   \
        (o)[2] = a_ + 4.0f * c_;                                                                   \
        (o)[3] = b_ + 8.0f * d_ + (m)[5];                                                          \
    } while (0)

/* A separable 2-D transform of an NI x NI block of vectors into NO x NO: the 1-D
 * transform T (a macro from NI vectors to NO) down each column, of LOAD(i, j), then along
 * each row of that, each result k of row a going to STORE(a, k, vector). */
#define SEPARABLE(NI, NO, T, LOAD, STORE)                                                          \
    do {                                                                                           \
        v8 sep_t[NO][NI];                                                                          \
        _Pragma("GCC unroll 6") for (int sep_j = 0; sep_j < (NI); sep_j++) {                       \
            v8 sep_in[NI], sep_out[NO];                                                            \
            _Pragma("GCC unroll 6") for (int sep_i = 0; sep_i < (NI); sep_i++)                     \
                sep_in[sep_i] = LOAD(sep_i, sep_j);                                                \
            T(sep_out, sep_in);                                                                    \
            _Pragma("GCC unroll 6") for (int sep_a = 0; sep_a < (NO); sep_a++)                     \
                sep_t[sep_a][sep_j] = sep_out[sep_a];                                              \
        }                                                                                          \
        _Pragma("GCC unroll 6") for (int sep_a = 0; sep_a < (NO); sep_a++) {                       \
            v8 sep_out[NO];                                                                        \
            T(sep_out, sep_t[sep_a]);                                                              \
            _Pragma("GCC unroll 6") for (int sep_k = 0; sep_k < (NO); sep_k++)                     \
                STORE(sep_a, sep_k, sep_out[sep_k]);                                               \
        }                                                                                          \
    } while (0)

/* V[xi][c][t - t0] = (B^T d B)[xi] for the tiles t0 .. t0 + n - 1 (n a multiple of 8). */
static void input_transform(const mt_winograd_plan *p, const float *xp, int64_t t0, int64_t n, float *V) {
    const int64_t CN = v_stride(p), WQ = p->WQ;
    for (int64_t c = 0; c < p->C; c++) {
        /* Phase (a, b) of channel c: padded rows a, a + 2, ... and columns b, b + 2, ...;
         * patch row i, column j of tile t is phase (i % 2, j % 2) at t + (i / 2) WQ + j / 2. */
        const float *p00 = xp + c * p->plane, *p01 = p00 + p->phase, *p10 = p01 + p->phase, *p11 = p10 + p->phase;
        for (int64_t t = t0; t < t0 + n; t += 8) {
            const int64_t u = t + WQ;
            /* B^T d, by columns j: (d0 - d2, d1 + d2, d2 - d1, d1 - d3) */
            v8 r0[4], r1[4], r2[4], r3[4];
#define COLUMN(j, q0, q1, off)                                                                     \
    do {                                                                                           \
        const v8 d0 = LD(q0 + t + off), d1 = LD(q1 + t + off), d2 = LD(q0 + u + off), d3 = LD(q1 + u + off); \
        r0[j] = d0 - d2;                                                                           \
        r1[j] = d1 + d2;                                                                           \
        r2[j] = d2 - d1;                                                                           \
        r3[j] = d1 - d3;                                                                           \
    } while (0)
            COLUMN(0, p00, p10, 0);
            COLUMN(1, p01, p11, 0);
            COLUMN(2, p00, p10, 1);
            COLUMN(3, p01, p11, 1);
#undef COLUMN
            /* (B^T d) B, by rows i: xi = 4 i .. 4 i + 3 */
            float *v = V + c * p->NB + (t - t0);
#define ROW(i, r)                                                                                  \
    do {                                                                                           \
        ST(v + (4 * i + 0) * CN, r[0] - r[2]);                                                     \
        ST(v + (4 * i + 1) * CN, r[1] + r[2]);                                                     \
        ST(v + (4 * i + 2) * CN, r[2] - r[1]);                                                     \
        ST(v + (4 * i + 3) * CN, r[1] - r[3]);                                                     \
    } while (0)
            ROW(0, r0);
            ROW(1, r1);
            ROW(2, r2);
            ROW(3, r3);
#undef ROW
        }
    }
}

/* The tile x tile outputs A^T M A (+ bias) of the tiles t0 .. t0 + n - 1 into the output
 * phases Y[a * tile + b][o][t] (output row tile * ty + a, column tile * tx + b). */
static void output_transform(const mt_winograd_plan *p, const float *M, const float *bias, int64_t t0, int64_t n,
                             float *Y) {
    const int64_t ON = m_stride(p), ONT = p->O * p->NT;
    for (int64_t o = 0; o < p->O; o++) {
        const float b = bias ? bias[o] : 0.0f;
        for (int64_t t = t0; t < t0 + n; t += 8) {
            const float *m = M + o * p->NB + (t - t0);
            float *y = Y + o * p->NT + t;
            if (p->tile == 4) { /* A^T M A, row a of the result to output phase row a */
#define M_AT(i, j) LD(m + (6 * (i) + (j)) * ON)
#define Y_PUT(a, k, v) ST(y + (4 * (a) + (k)) * ONT, (v) + b)
                SEPARABLE(6, 4, AT6, M_AT, Y_PUT);
#undef M_AT
#undef Y_PUT
            } else {
                v8 s[2][4];
                for (int j = 0; j < 4; j++) { /* A^T M */
                    const v8 m0 = LD(m + (0 + j) * ON), m1 = LD(m + (4 + j) * ON), m2 = LD(m + (8 + j) * ON),
                             m3 = LD(m + (12 + j) * ON);
                    s[0][j] = m0 + m1 + m2;
                    s[1][j] = m1 - m2 - m3;
                }
                for (int a = 0; a < 2; a++) { /* (A^T M) A */
                    const v8 y0 = s[a][0] + s[a][1] + s[a][2] + b, y1 = s[a][1] - s[a][2] - s[a][3] + b;
                    ST(y + (2 * a + 0) * ONT, y0);
                    ST(y + (2 * a + 1) * ONT, y1);
                }
            }
        }
    }
}

/* dst[2r] (+)= e[r], dst[2r + 1] (+)= od[r] for r < n, eight pairs at a time by shuffles.
 * The last, partial eight read past n (the scratch has the slack) and are stored whole
 * when `spill` allows writing up to 16 floats past dst[2n - 1], else through a buffer. */
static inline __attribute__((always_inline)) void interleave_row(float *dst, const float *e, const float *od,
                                                                 int64_t n, bool add, bool spill) {
    for (int64_t r = 0; r < n; r += 8) {
        const v8 x = LD(e + r), y = LD(od + r);
        v8 lo = __builtin_shufflevector(x, y, 0, 8, 1, 9, 2, 10, 3, 11);
        v8 hi = __builtin_shufflevector(x, y, 4, 12, 5, 13, 6, 14, 7, 15);
        if (r + 8 <= n || spill) {
            if (add) {
                lo += LD(dst + 2 * r);
                hi += LD(dst + 2 * r + 8);
            }
            ST(dst + 2 * r, lo);
            ST(dst + 2 * r + 8, hi);
        } else {
            float buf[16];
            ST(buf, lo);
            ST(buf + 8, hi);
            for (int64_t k = 0; k < 2 * (n - r); k++) dst[2 * r + k] = (add ? dst[2 * r + k] : 0.0f) + buf[k];
        }
    }
}

/* out (O, OH, OW) (+)= the output phases: row oh interleaves phase (oh % 2, 0) and
 * (oh % 2, 1) along tile row oh / 2. A stored row may spill into the rows after it,
 * which are stored later, but not past the image; added rows do not spill. */
static void interleave(const mt_winograd_plan *p, const float *Y, float *out, bool add) {
    const int64_t ONT = p->O * p->NT, half = p->OW / 2, written = (half + 7) / 8 * 16, end = p->O * p->OH * p->OW;
    for (int64_t o = 0; o < p->O; o++)
        for (int64_t oh = 0; oh < p->OH; oh++) {
            const float *e = Y + (oh % 2) * 2 * ONT + o * p->NT + oh / 2 * p->WQ, *od = e + ONT;
            const int64_t at = (o * p->OH + oh) * p->OW;
            float *dst = out + at;
            if (add) interleave_row(dst, e, od, half, true, false);
            else if (at + written > end) interleave_row(dst, e, od, half, false, false);
            else interleave_row(dst, e, od, half, false, true);
            if (p->OW % 2) dst[p->OW - 1] = (add ? dst[p->OW - 1] : 0.0f) + e[half];
        }
}

/* V[xi][c][t - t0] = (B^T d B)[xi], xi = 6 i + j, for the tiles t0 .. t0 + n - 1. */
static void input_transform4(const mt_winograd_plan *p, const float *xp, int64_t t0, int64_t n, float *V) {
    const int64_t CN = v_stride(p), WQ = p->WQ;
    for (int64_t c = 0; c < p->C; c++) {
        const float *ph[16]; /* channel c's plane in each phase */
        for (int k = 0; k < 16; k++) ph[k] = xp + k * p->phase + c * p->plane;
        for (int64_t t = t0; t < t0 + n; t += 8) {
            float *v = V + c * p->NB + (t - t0);
            /* Row i of B^T d for all six columns, then that row times B: each row reloads the
             * patch elements it needs (L1 hits) rather than keeping all 36 of B^T d, which
             * spilled 16 registers' worth to the stack. The compiler drops the other rows'
             * loads and arithmetic of each BT6. */
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++) {
                v8 row[6], o[6];
#pragma GCC unroll 6
                for (int j = 0; j < 6; j++) {
                    v8 d[6], col[6];
#pragma GCC unroll 6
                    for (int k = 0; k < 6; k++) /* patch (k, j): phase (k % 4, j % 4) at t + (k / 4) WQ + j / 4 */
                        d[k] = LD(ph[(k % 4) * 4 + j % 4] + t + (k / 4) * WQ + j / 4);
                    BT6(col, d);
                    row[j] = col[i];
                }
                BT6(o, row);
#pragma GCC unroll 6
                for (int j = 0; j < 6; j++) ST(v + (6 * i + j) * CN, o[j]);
            }
        }
    }
}

/* out (O, OH, OW) (+)= the sixteen output phases (stacked: each image's rows to its own
 * (O, IH, OW), the zero rows' skipped): row oh takes phases (oh % 4, 0 .. 3) along tile
 * row oh / 4, four-way interleaved by two rounds of two-way shuffles, 32 outputs per 8
 * tiles through a buffer (the last tiles' lanes read past the row, within the scratch). */
static void interleave4(const mt_winograd_plan *p, const float *Y, float *out, bool add) {
    const int64_t ONT = p->O * p->NT, TW = p->WQ - 1;
    for (int64_t o = 0; o < p->O; o++)
        for (int64_t oh = 0; oh < p->OH; oh++) {
            const int64_t image = oh / (p->IH + 1), h = oh % (p->IH + 1); /* row oh of the stack */
            if (h == p->IH) continue;                                      /* a zero row's */
            const float *e = Y + (oh % 4) * 4 * ONT + o * p->NT + oh / 4 * p->WQ;
            float *dst = out + ((image * p->O + o) * p->IH + h) * p->OW;
            for (int64_t tx = 0; tx < TW; tx += 8) {
                const v8 e0 = LD(e + tx), e1 = LD(e + ONT + tx), e2 = LD(e + 2 * ONT + tx), e3 = LD(e + 3 * ONT + tx);
                const v8 lo02 = __builtin_shufflevector(e0, e2, 0, 8, 1, 9, 2, 10, 3, 11);
                const v8 hi02 = __builtin_shufflevector(e0, e2, 4, 12, 5, 13, 6, 14, 7, 15);
                const v8 lo13 = __builtin_shufflevector(e1, e3, 0, 8, 1, 9, 2, 10, 3, 11);
                const v8 hi13 = __builtin_shufflevector(e1, e3, 4, 12, 5, 13, 6, 14, 7, 15);
                float buf[32];
                ST(buf, __builtin_shufflevector(lo02, lo13, 0, 8, 1, 9, 2, 10, 3, 11));
                ST(buf + 8, __builtin_shufflevector(lo02, lo13, 4, 12, 5, 13, 6, 14, 7, 15));
                ST(buf + 16, __builtin_shufflevector(hi02, hi13, 0, 8, 1, 9, 2, 10, 3, 11));
                ST(buf + 24, __builtin_shufflevector(hi02, hi13, 4, 12, 5, 13, 6, 14, 7, 15));
                const int64_t left = p->OW - 4 * tx;
                mt_k_copy_row(dst + 4 * tx, buf, left < 32 ? left : 32, add);
            }
        }
}

void mt_k_winograd_image(const mt_winograd_plan *p, const float *xp, const float *U, const float *bias,
                         float *scratch, float *out, bool add) {
    const int64_t P = positions(p->tile), OC = p->O * p->C;
    const int64_t VS = v_stride(p), MS = m_stride(p);
    float *V = scratch, *M = V + P * VS, *Y = M + P * MS;
    for (int64_t t0 = 0; t0 < p->NT; t0 += p->NB) {
        const int64_t n = p->NT - t0 < p->NB ? p->NT - t0 : p->NB;
        if (p->tile == 4) input_transform4(p, xp, t0, n, V);
        else input_transform(p, xp, t0, n, V);
        for (int64_t xi = 0; xi < P; xi++)
            mt_k_gemm_nn(p->O, n, p->C, U + xi * OC, p->C, V + xi * VS, p->NB, NULL, M + xi * MS, p->NB);
        output_transform(p, M, bias, t0, n, Y);
    }
    if (p->tile == 4) interleave4(p, Y, out, add);
    else interleave(p, Y, out, add);
}

/* ---- the weight gradient ------------------------------------------------------------
 * dU[xi] = sum over tiles of (A dY A^T)[xi] * (B^T d B)[xi], per (o, c); dW = G^T dU G.
 * Per chunk: V by the input transform, M[xi] (O x tiles) from dOut's tiles, transposed to
 * tiles x O, and dU^T[xi] (C x O) += V[xi] @ M[xi]^T on the GEMM. The tiles' dOut comes
 * from its four phases Yd[a * 2 + b][o][t] (row 2 ty + a, column 2 tx + b of tile t), whose
 * positions outside dOut (an odd size's last row or column, the unused tile numbers) stay
 * zero, so those lanes add nothing. F(4x4, 3x3)'s is the same with 36 positions, sixteen
 * phases of dOut, A (6 x 4) and G^T (3 x 6). */

/* Tile numbers per chunk of the weight gradient: longer than the forward's, as each of
 * its GEMMs sums over the chunk's tiles with C in registers (loaded and stored once per
 * call). */
static int64_t wgrad_chunk(const mt_winograd_plan *p) {
    int64_t nb = WGRAD_CHUNK_FLOATS / (positions(p->tile) * (p->C + 2 * p->O)) / 8 * 8;
    if (nb < 16) nb = 16;
    return nb > p->NT ? p->NT : nb;
}

int64_t mt_k_winograd_wgrad_scratch_floats(const mt_winograd_plan *p) {
    mt_winograd_plan q = *p;
    q.NB = wgrad_chunk(p);
    const int64_t P = positions(p->tile);
    return P * v_stride(&q) + 2 * P * p->O * q.NB + p->tile * p->tile * p->O * p->NT + 8;
}

/* M[xi][o][t - t0] = (A dY A^T)[xi] for the tiles t0 .. t0 + n - 1 (n a multiple of 8). */
static void dout_transform(const mt_winograd_plan *p, const float *Yd, int64_t t0, int64_t n, float *M) {
    const int64_t ONT = p->O * p->NT, ON = p->O * p->NB;
    for (int64_t o = 0; o < p->O; o++)
        for (int64_t t = t0; t < t0 + n; t += 8) {
            const float *y = Yd + o * p->NT + t;
            const v8 y00 = LD(y), y01 = LD(y + ONT), y10 = LD(y + 2 * ONT), y11 = LD(y + 3 * ONT);
            /* A dY, by columns: (y0, y0 + y1, y0 - y1, -y1) */
            const v8 r[4][2] = {{y00, y01}, {y00 + y10, y01 + y11}, {y00 - y10, y01 - y11}, {-y10, -y11}};
            float *m = M + o * p->NB + (t - t0);
            for (int i = 0; i < 4; i++) { /* (A dY) A^T, row i */
                ST(m + (4 * i + 0) * ON, r[i][0]);
                ST(m + (4 * i + 1) * ON, r[i][0] + r[i][1]);
                ST(m + (4 * i + 2) * ON, r[i][0] - r[i][1]);
                ST(m + (4 * i + 3) * ON, -r[i][1]);
            }
        }
}

/* F(4x4, 3x3)'s: M[xi][o][t - t0] = (A dY A^T)[xi], A = (A^T)^T (6 x 4): each column
 * (y0, y1, y2, y3) to (y0, (y0 + y2) + (y1 + y3), (y0 + y2) - (y1 + y3), (y0 + 4 y2) +
 * (2 y1 + 8 y3), (y0 + 4 y2) - (2 y1 + 8 y3), y3), and likewise each row. */
#define A6(o, y)                                                                                   \
    do {                                                                                           \
        const v8 e_ = (y)[0] + (y)[2], f_ = (y)[1] + (y)[3];                                       \
        const v8 g_ = (y)[0] + 4.0f * (y)[2], h_ = 2.0f * (y)[1] + 8.0f * (y)[3];                  \
        (o)[0] = (y)[0];                                                                           \
        (o)[1] = e_ + f_;                                                                          \
        (o)[2] = e_ - f_;                                                                          \
        (o)[3] = g_ + h_;                                                                          \
        (o)[4] = g_ - h_;                                                                          \
        (o)[5] = (y)[3];                                                                           \
    } while (0)

static void dout_transform4(const mt_winograd_plan *p, const float *Yd, int64_t t0, int64_t n, float *M) {
    const int64_t ONT = p->O * p->NT, ON = p->O * p->NB;
    for (int64_t o = 0; o < p->O; o++)
        for (int64_t t = t0; t < t0 + n; t += 8) {
            const float *y = Yd + o * p->NT + t;
            float *m = M + o * p->NB + (t - t0);
#define DY_AT(a, b) LD(y + (4 * (a) + (b)) * ONT)
#define M_PUT(i, j, v) ST(m + (6 * (i) + (j)) * ON, (v))
            SEPARABLE(4, 6, A6, DY_AT, M_PUT); /* A dY A^T */
#undef DY_AT
#undef M_PUT
        }
}

void mt_k_winograd_weight_grad_image(const mt_winograd_plan *p, const float *xp, const float *dy, float *scratch,
                                     float *dUt) {
    mt_winograd_plan q = *p; /* the transforms' chunk: the weight gradient's */
    q.NB = wgrad_chunk(p);
    const int64_t P = positions(p->tile), T = p->tile;
    float *V = scratch, *M = V + P * v_stride(&q), *MT = M + P * p->O * q.NB, *Yd = MT + P * p->O * q.NB;
    const int64_t ONT = p->O * p->NT, CO = p->C * p->O;
    for (int64_t o = 0; o < p->O; o++) /* dOut into its phases: each row's columns split by the tile's stride */
        for (int64_t oh = 0; oh < p->OH; oh++) {
            float *e = Yd + (oh % T) * T * ONT + o * p->NT + oh / T * p->WQ;
            const float *src = dy + (o * p->OH + oh) * p->OW;
            if (T == 2) mt_k_deinterleave_row(e, e + ONT, src, p->OW);
            else mt_k_split4_row(e, e + ONT, e + 2 * ONT, e + 3 * ONT, src, p->OW);
        }
    for (int64_t t0 = 0; t0 < p->NT; t0 += q.NB) {
        const int64_t n = p->NT - t0 < q.NB ? p->NT - t0 : q.NB;
        if (T == 4) {
            input_transform4(&q, xp, t0, n, V);
            dout_transform4(&q, Yd, t0, n, M);
        } else {
            input_transform(&q, xp, t0, n, V);
            dout_transform(&q, Yd, t0, n, M);
        }
        for (int64_t xi = 0; xi < P; xi++) {
            mt_k_transpose(MT + xi * q.NB * p->O, p->O, M + xi * p->O * q.NB, q.NB, p->O, n);
            mt_k_gemm_nn_add(p->C, p->O, n, V + xi * v_stride(&q), q.NB, MT + xi * q.NB * p->O, p->O, dUt + xi * CO,
                             p->O);
        }
    }
}

/* G's columns applied to u[0..5]: (G^T u)[0..2] = (u0 / 4 - (u1 + u2) / 6 + (u3 + u4) / 24,
 * (u2 - u1) / 6 + (u3 - u4) / 12, (u3 + u4 - u1 - u2) / 6 + u5). */
#define GT6(o, u)                                                                                  \
    do {                                                                                           \
        const float s12_ = (u)[1] + (u)[2], s34_ = (u)[3] + (u)[4];                                \
        (o)[0] = (u)[0] * 0.25f - s12_ * (1.0f / 6.0f) + s34_ * (1.0f / 24.0f);                    \
        (o)[1] = ((u)[2] - (u)[1]) * (1.0f / 6.0f) + ((u)[3] - (u)[4]) * (1.0f / 12.0f);           \
        (o)[2] = (s34_ - s12_) * (1.0f / 6.0f) + (u)[5];                                           \
    } while (0)

void mt_k_winograd_weight_grad_finish(const mt_winograd_plan *p, const float *dUt, float *dw) {
    const int64_t CO = p->C * p->O;
    if (p->tile == 4) {
        for (int64_t o = 0; o < p->O; o++)
            for (int64_t c = 0; c < p->C; c++) {
                float u[6][6], h[6][3]; /* dU, and (G^T dU)^T: h[j][i] */
                for (int xi = 0; xi < 36; xi++) u[xi / 6][xi % 6] = dUt[xi * CO + c * p->O + o];
                for (int j = 0; j < 6; j++) {
                    float col[6], r[3];
                    for (int k = 0; k < 6; k++) col[k] = u[k][j];
                    GT6(r, col);
                    for (int i = 0; i < 3; i++) h[j][i] = r[i];
                }
                float *g = dw + (o * p->C + c) * 9;
                for (int i = 0; i < 3; i++) { /* (G^T dU) G, row i */
                    float row[6], r[3];
                    for (int k = 0; k < 6; k++) row[k] = h[k][i];
                    GT6(r, row);
                    for (int j = 0; j < 3; j++) g[3 * i + j] += r[j];
                }
            }
        return;
    }
    for (int64_t o = 0; o < p->O; o++)
        for (int64_t c = 0; c < p->C; c++) {
            float u[4][4], h[3][4];
            for (int xi = 0; xi < 16; xi++) u[xi / 4][xi % 4] = dUt[xi * CO + c * p->O + o];
            for (int j = 0; j < 4; j++) { /* G^T dU */
                h[0][j] = u[0][j] + 0.5f * (u[1][j] + u[2][j]);
                h[1][j] = 0.5f * (u[1][j] - u[2][j]);
                h[2][j] = 0.5f * (u[1][j] + u[2][j]) + u[3][j];
            }
            float *g = dw + (o * p->C + c) * 9;
            for (int i = 0; i < 3; i++) { /* (G^T dU) G */
                g[3 * i + 0] += h[i][0] + 0.5f * (h[i][1] + h[i][2]);
                g[3 * i + 1] += 0.5f * (h[i][1] - h[i][2]);
                g[3 * i + 2] += 0.5f * (h[i][1] + h[i][2]) + h[i][3];
            }
        }
}
