/* Winograd's F(2x2, 3x3) for a 3x3 convolution of stride 1, padding 1 and dilation 1, one
 * image at a time (src/ops/conv.c runs it per image on the threads, as its direct path).
 *
 * Each 2x2 block of outputs (a tile) is Y = A^T [sum_c (G g G^T) * (B^T d B)] A from the
 * 4x4 input patch d under it: 16 products per tile and channel pair where the direct
 * convolution makes 36, so the GEMMs (one per position xi of the 4x4 transform,
 * M[xi] (O x tiles) = U[xi] (O x C) @ V[xi] (C x tiles), on gemm_small.c's mt_k_gemm_nn) do
 * 2.25 times fewer multiply-adds. The input and output transforms are additions only.
 *
 * The image arrives as conv.c's zero-padded copy split into its four stride-2 phases
 * (shifted_fill with a 2x2 stride): phase (a, b) holds the padded rows a, a + 2, ... and
 * columns b, b + 2, ..., HQ x WQ floats per channel, HQ = TH + 1 and WQ = TW + 1 for
 * TH x TW tiles. Element (i, j) of tile (ty, tx)'s patch is then phase (i % 2, j % 2) at
 * (ty + i / 2, tx + j / 2): with the tiles numbered t = ty * WQ + tx, eight consecutive
 * tiles read eight consecutive floats of each phase, and every transform is vector loads,
 * additions and stores. Number tx = TW of each row is no tile; its lanes are computed and
 * never stored.
 *
 * F(4x4, 3x3) is the same with 6x6 patches (36 products for 16 outputs, 4 times fewer than
 * the direct 144, at the price of transforms with coefficients up to 8): the image split
 * into its sixteen stride-4 phases (a 4x4 stride; patch element (i, j) of tile (ty, tx) is
 * phase (i % 4, j % 4) at (ty + i / 4, tx + j / 4)), U, V and M of 36 positions; its
 * weight gradient likewise, with dOut in sixteen phases. */
#ifndef MT_KERNELS_CPU_WINOGRAD_H
#define MT_KERNELS_CPU_WINOGRAD_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int64_t tile;          /* outputs per tile side: 2, F(2x2, 3x3), or 4, F(4x4, 3x3) (below) */
    int64_t C, O;          /* input and output channels */
    int64_t OH, OW;        /* output (= input) size: of the stack, when images are stacked (below) */
    int64_t stack, IH;     /* images stacked (1: one image), and each one's rows */
    int64_t TH, WQ;        /* tile rows; tile numbers per row (tiles TW = WQ - 1, plus one unused) */
    int64_t plane, phase;  /* floats per channel in a phase (HQ x WQ), and per phase (C planes, padded
                            * when a multiple of 2 KiB: the caller's fill uses this phase) */
    int64_t NT;            /* tile numbers TH * WQ, rounded up to a multiple of 8 */
    int64_t NB;            /* tile numbers per chunk: V and M of one chunk stay in cache */
} mt_winograd_plan;

/* The plan for a C -> O convolution of an H x W image with tiles of tile x tile outputs;
 * tile 0: the size with fewer products (mt_k_winograd_products), 4 only where it saves a
 * quarter of them and its phases fit the padded image (H and W of 0 or 3 mod 4). */
mt_winograd_plan mt_k_winograd_plan(int64_t C, int64_t O, int64_t H, int64_t W, int64_t tile);
/* k images of H rows each as one of k (H + 1) - 1 rows on F(4x4, 3x3): each image followed
 * by one zero row, its padding below and the next one's above, so that with H + 1 a
 * multiple of 4 every image starts a tile row. For small images (resnet8's 7x7: 2x2 tiles,
 * 8 tile numbers an image, too few for a GEMM's 16 columns), k of them fill the GEMMs.
 * The caller fills image i's phases at phase row i (H + 1) / 4 (plane and phase are the
 * stack's); the output goes to k consecutive (O, H, W) images, the zero rows' dropped.
 * k = 1: mt_k_winograd_plan's, tile 0. mt_k_winograd_stack: how many of a batch of N images
 * of H rows to stack per call (1: none). */
mt_winograd_plan mt_k_winograd_plan_stacked(int64_t C, int64_t O, int64_t H, int64_t W, int64_t k);
int64_t mt_k_winograd_stack(int64_t H, int64_t N);
/* Transform positions per tile: 16 (4x4) or 36 (6x6), the first dimension of U and dU^T. */
int64_t mt_k_winograd_positions(const mt_winograd_plan *p);
/* Multiply-adds per (input, output) channel pair of one image: 16 or 36 per tile number. */
int64_t mt_k_winograd_products(const mt_winograd_plan *p);
/* Floats of one image's phases (with the slack the last vectors read past them), and of
 * the scratch mt_k_winograd_image needs beside them. */
int64_t mt_k_winograd_input_floats(const mt_winograd_plan *p);
int64_t mt_k_winograd_scratch_floats(const mt_winograd_plan *p);
/* U[xi][o][c] = (G g G^T)[xi] (16 or 36 positions xi) for the weight w (O, C, 3, 3),
 * output channels [o0, o1). */
void mt_k_winograd_weights(const mt_winograd_plan *p, const float *w, float *U, int64_t o0, int64_t o1);
/* out (O, OH, OW) (stacked: stack images of (O, IH, OW)) = the convolution of the image
 * in xp (phases as above) with the weight transformed into U, plus bias[o] (bias may be
 * NULL); or out += that when add. */
void mt_k_winograd_image(const mt_winograd_plan *p, const float *xp, const float *U, const float *bias,
                         float *scratch, float *out, bool add);
/* The weight gradient: for each image, with its phases in xp (as above) and its output
 * gradient dy (O, OH, OW), dU^T[xi][c][o] += the image's sum over tiles (dUt: 16 or 36 x C x O,
 * O a multiple of 8); scratch of mt_k_winograd_wgrad_scratch_floats, zeroed before the
 * first image (dOut's phases are written only where dOut is). Then dw (O, C, 3, 3) +=
 * G^T dU G by mt_k_winograd_weight_grad_finish. */
int64_t mt_k_winograd_wgrad_scratch_floats(const mt_winograd_plan *p);
void mt_k_winograd_weight_grad_image(const mt_winograd_plan *p, const float *xp, const float *dy, float *scratch,
                                     float *dUt);
void mt_k_winograd_weight_grad_finish(const mt_winograd_plan *p, const float *dUt, float *dw);

#endif
