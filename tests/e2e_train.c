/* End to end on real MNIST (run with `mytorch_tests e2e`): one FCN epoch with the
 * report's recipe reaches at least 94.0% (PyTorch 1.13: 94.3% and 95.4% in two runs),
 * and `mytorch eval` on the saved checkpoint prints the same accuracy. */
#include "cli_run.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

MT_TEST(e2e_fcn_one_epoch_reaches_94_percent) {
    char dir[256], args[1024];
    cli_tempdir(dir, sizeof dir);
    snprintf(args, sizeof args, "train --model fcn --epochs 1 --data '%s' --out '%s'", mt_test_data_dir(), dir);
    cli_result r;
    cli_run(&r, args);
    REQUIRE(r.status == 0);
    double acc = cli_number_after(r.out, "test accuracy ");
    printf("    fcn, 1 epoch: test accuracy %.2f%%\n", acc);
    CHECK_MSG(acc >= 94.0, "fcn after one epoch: %.2f%% < 94.0%%", acc);
    CHECK(cli_exists(dir, "best.safetensors") && cli_exists(dir, "last.safetensors") && cli_exists(dir, "metrics.jsonl"));
    CHECK(!cli_exists(dir, "best.safetensors.tmp") && !cli_exists(dir, "last.safetensors.tmp"));
    /* The end of a run draws its figures and says where they are. */
    CHECK(cli_exists(dir, "figures/accuracy.svg") && cli_exists(dir, "figures/loss.svg") &&
          cli_exists(dir, "figures/confusion.svg") && cli_exists(dir, "figures/misclassified.png"));
    CHECK_MSG(strstr(r.out, "figures: ") != NULL, "no figures line in: %s", r.out);

    snprintf(args, sizeof args, "eval --checkpoint '%s/best.safetensors' --data '%s' --json", dir, mt_test_data_dir());
    cli_run(&r, args);
    REQUIRE(r.status == 0);
    double eval_acc = 100.0 * cli_number_after(r.out, "\"test_accuracy\":");
    CHECK_NEAR(eval_acc, acc, 0.005 + 1e-9);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}
