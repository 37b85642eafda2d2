/* One thread count for OpenMP kernels and the BLAS. */
#include "mytorch/core.h"
#include "kernels/cpu/blas.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static int num_threads;

void mt_set_num_threads(int n) {
#ifdef _OPENMP
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
#else
    n = 1;
#endif
    num_threads = n;
    mt_blas_set_num_threads(n);
}

int mt_get_num_threads(void) {
#ifdef _OPENMP
    return num_threads ? num_threads : omp_get_max_threads();
#else
    return 1;
#endif
}
