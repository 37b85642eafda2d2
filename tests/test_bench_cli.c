/* mytorch bench: the SGEMM rate that bench/run.sh sets the models' GFLOP/s against, and the
 * time of a model's training step. */
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

MT_TEST(bench_times_training_steps) {
    cli_result r;
    cli_run(&r, "bench --model lenet --steps 3 --batch-size 4 --threads 1 --json");
    CHECK_MSG(r.status == 0, "exit %d: %s", r.status, r.err);
    REQUIRE(r.status == 0 && strstr(r.out, "\"median_ms\":") != NULL);
    const double min_ms = cli_number_after(r.out, "\"min_ms\":"), median_ms = cli_number_after(r.out, "\"median_ms\":");
    CHECK_MSG(min_ms > 0.0 && median_ms >= min_ms && median_ms < 1e5, "min %g ms, median %g ms", min_ms, median_ms);
    CHECK(strstr(r.out, "\"model\":\"lenet\"") != NULL && strstr(r.out, "\"batch\":4,") != NULL);
    cli_run(&r, "bench --model nope");
    CHECK_MSG(r.status == 2 && strstr(r.err, "unknown model 'nope'"), "exit %d: %s", r.status, r.err);
    cli_run(&r, "bench --model fcn --size 64");
    CHECK_MSG(r.status == 2 && strstr(r.err, "not with --model"), "exit %d: %s", r.status, r.err);
    cli_run(&r, "bench --steps 3");
    CHECK_MSG(r.status == 2 && strstr(r.err, "need --model"), "exit %d: %s", r.status, r.err);
    cli_run(&r, "bench --model fcn --steps 0");
    CHECK_MSG(r.status == 2 && strstr(r.err, "--steps must be between"), "exit %d: %s", r.status, r.err);
}
