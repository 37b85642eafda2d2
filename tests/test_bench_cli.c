/* mytorch bench: the SGEMM rate that bench/run.sh sets the models' GFLOP/s against. */
#include "cli_run.h"
#include "test.h"

#include <string.h>

MT_TEST(bench_measures_sgemm) {
    cli_result r;
    cli_run(&r, "bench --size 96 --repeats 2 --threads 1 --json");
    CHECK_MSG(r.status == 0, "exit %d: %s", r.status, r.err);
    REQUIRE(r.status == 0 && strstr(r.out, "\"gflops\":") != NULL);
    double gflops = cli_number_after(r.out, "\"gflops\":");
    /* 2 * 96^3 flops in a positive time: a finite positive rate, well under any CPU's peak. */
    CHECK_MSG(gflops > 0.0 && gflops < 1e5, "gflops %g", gflops);
    CHECK(strstr(r.out, "\"sgemm_size\":96") != NULL);
    cli_run(&r, "bench --size 0");
    CHECK_MSG(r.status == 2 && strstr(r.err, "--size must be between"), "exit %d: %s", r.status, r.err);
}
