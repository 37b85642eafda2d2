/* Vectorised expf, erff and tanhf from glibc's libmvec (linked through libm).
 *
 * glibc declares the SIMD variants of its math functions only under -ffast-math, which
 * mytorch does not use (it would reorder every sum). Declaring the few functions the
 * kernels need with GCC's simd attribute lets a loop marked `#pragma omp simd` call
 * _ZGVeN16v_expf and friends, 16 floats at a time (within 4 ulp, glibc's bound for its
 * vector functions); the scalar tail uses the scalar function. Other compilers and C
 * libraries get plain scalar calls: the same code, just slower. Include after math.h. */
#ifndef MT_KERNELS_CPU_VECMATH_H
#define MT_KERNELS_CPU_VECMATH_H

#include <math.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && \
    __GLIBC_PREREQ(2, 35)
float expf(float) __attribute__((simd("notinbranch")));
float erff(float) __attribute__((simd("notinbranch")));
float tanhf(float) __attribute__((simd("notinbranch")));
#endif

#endif
