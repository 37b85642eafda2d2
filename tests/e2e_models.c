/* End to end on real MNIST for the convolutional models (run with `mytorch_tests e2e`),
 * sized for CI: one cnn2 epoch, one lenet epoch, a few hundred resnet8 steps, and the
 * report's own LeNet checkpoint. */
#include "cli_run.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

#define REF_LENET MT_SOURCE_DIR "/../shared/reference-weights/lenet-reference.safetensors"

/* Trains with `flags` into a temp folder; returns the printed test accuracy (%), or -1. */
static double train(const char *flags) {
    char dir[256], args[1024], cmd[300];
    cli_tempdir(dir, sizeof dir);
    snprintf(args, sizeof args, "train %s --data '%s' --out '%s'", flags, mt_test_data_dir(), dir);
    cli_result r;
    cli_run(&r, args);
    CHECK_MSG(r.status == 0, "mytorch %s: exit %d: %s", args, r.status, r.err);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return r.status == 0 ? cli_number_after(r.out, "test accuracy ") : -1.0;
}

/* PyTorch 1.13 with the same recipe: 97.15% (the figure). */
MT_TEST(e2e_cnn2_one_epoch_reaches_97_percent) {
    double acc = train("--model cnn2 --epochs 1");
    printf("    cnn2 (LeakyReLU), 1 epoch: %.2f%%\n", acc);
    CHECK_MSG(acc >= 97.0, "cnn2 after one epoch: %.2f%% < 97.0%%", acc);
}

/* One lenet epoch with its recipe, without the augmented copies: at least 98.0%.
 * After one epoch at lr 0.1 / momentum 0.9 the accuracy is a seed lottery of about
 * +-0.35 points in both frameworks (the train step itself matches PyTorch's to 3e-7,
 * tests/test_models.c). Measured on this machine, one epoch each:
 *   mytorch seeds 0-9: 97.67 97.47 98.31 97.96 97.90 98.31 98.07 98.52 98.62 98.21 (mean 98.10)
 *   PyTorch seeds 0-7 (bench/pytorch_bench.py): 97.94 98.47 97.94 98.27 98.27 98.40 98.16 98.05 (mean 98.19)
 * The test runs two fixed seeds and holds their mean to 98.0%; the seeds are fixed so a
 * given build gives the same verdict every time. */
MT_TEST(e2e_lenet_one_epoch_reaches_98_percent) {
    double a = train("--model lenet --epochs 1 --augment-copies 0 --seed 2");
    double b = train("--model lenet --epochs 1 --augment-copies 0 --seed 3");
    printf("    lenet, 1 epoch, no augmentation: %.2f%% and %.2f%% (seeds 2, 3)\n", a, b);
    CHECK_MSG((a + b) / 2 >= 98.0, "lenet after one epoch: mean %.2f%% < 98.0%%", (a + b) / 2);
}

/* resnet8 for 300 steps (9,600 images) of its recipe: the test loss falls from
 * ln(10) = 2.30 at initialisation to below 1.0 (mytorch, seed 0: 0.76). */
MT_TEST(e2e_resnet8_300_steps_learns) {
    char dir[256], args[1024], cmd[300];
    cli_tempdir(dir, sizeof dir);
    snprintf(args, sizeof args, "train --model resnet8 --max-steps 300 --data '%s' --out '%s'", mt_test_data_dir(), dir);
    cli_result r;
    cli_run(&r, args);
    REQUIRE(r.status == 0);
    double loss = cli_number_after(r.out, "test loss ");
    printf("    resnet8, 300 steps: test loss %.4f, accuracy %.2f%%\n", loss, cli_number_after(r.out, "test accuracy "));
    CHECK_MSG(loss > 0 && loss < 1.0, "resnet8 after 300 steps: test loss %.4f, expected < 1.0", loss);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* The report's own LeNet (reference-weights/), evaluated with the normalisation in its
 * metadata: 99.26%, exactly the report's figure. */
MT_TEST(e2e_reference_lenet_scores_99_26) {
    char args[1024];
    snprintf(args, sizeof args, "eval --checkpoint '%s' --data '%s' --json", REF_LENET, mt_test_data_dir());
    cli_result r;
    cli_run(&r, args);
    REQUIRE(r.status == 0);
    CHECK_MSG(strstr(r.out, "\"correct\":9926,") != NULL, "expected 9926/10000 correct: %s", r.out);
}

/* One ViT epoch with the report's recipe (Adam lr 1e-3, batch 64, dropout 0.2): at least
 * 94.5%. Measured on this machine, one thread each: mytorch 95.27% in 88.8 s, PyTorch
 * 1.13 (bench/pytorch_bench.py --model vit) 95.90% in 103.3 s. */
MT_TEST(e2e_vit_one_epoch_reaches_94_5_percent) {
    double acc = train("--model vit --epochs 1");
    printf("    vit, 1 epoch: %.2f%%\n", acc);
    CHECK_MSG(acc >= 94.5, "vit after one epoch: %.2f%% < 94.5%%", acc);
}

/* The report's own ViT (reference-weights/): 98.83%, the report's figure, to the image. */
MT_TEST(e2e_reference_vit_scores_98_83) {
    char args[1024];
    snprintf(args, sizeof args, "eval --checkpoint '%s' --data '%s' --json",
             MT_SOURCE_DIR "/../shared/reference-weights/vit-reference.safetensors", mt_test_data_dir());
    cli_result r;
    cli_run(&r, args);
    REQUIRE(r.status == 0);
    CHECK_MSG(strstr(r.out, "\"correct\":9883,") != NULL, "expected 9883/10000 correct: %s", r.out);
}
