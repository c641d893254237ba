"""Keras reference for bench/keras-compare: trains the siamface tower with Keras 3 / TensorFlow and prints its
throughput as one JSON line (a dev-only tool; TensorFlow is never a project dependency).

The tower is the one siamface builds (lib/model/tower.ts, densenet121 backbone, head 'mlp'): DenseNet121
include_top=False, weights=None, then GlobalAveragePooling -> Dense 512 -> BatchNorm -> LeakyReLU -> Dense 256 ->
BatchNorm -> LeakyReLU -> Dense 128 -> L2 normalise. One step embeds [a images; b images] in one batch (as
siamface does), takes the contrastive loss (margin 1) on the Euclidean distances, and updates every weight with
Adam, inside one tf.function. Inputs are random but fixed (no data loader): the figure is the step alone.

  python train_tower.py --size 64 --batch 16 --steps 10 --warmup 3 [--dtype float32|mixed_bfloat16] [--threads 0]
"""
import argparse
import json
import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402


def tower(size):
    backbone = keras.applications.DenseNet121(include_top=False, weights=None, input_shape=(size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(backbone.output)
    for units in (512, 256):
        x = keras.layers.Dense(units)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
    x = keras.layers.Dense(128)(x)
    x = keras.layers.UnitNormalization()(x)
    return keras.Model(backbone.input, x)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--batch", type=int, default=16, help="pairs per step (2x images)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--dtype", default="float32", choices=["float32", "mixed_bfloat16"])
    p.add_argument("--threads", type=int, default=0, help="intra- and inter-op threads (0: TensorFlow's default)")
    a = p.parse_args()
    if a.threads:
        tf.config.threading.set_intra_op_parallelism_threads(a.threads)
        tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    keras.mixed_precision.set_global_policy(a.dtype)
    keras.utils.set_random_seed(1)
    model = tower(a.size)
    opt = keras.optimizers.Adam(1e-4)
    rng = np.random.default_rng(1)
    images = tf.constant(rng.normal(size=(2 * a.batch, a.size, a.size, 3)).astype(np.float32))
    labels = tf.constant((rng.random(a.batch) < 0.5).astype(np.float32))

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            emb = tf.cast(model(x, training=True), tf.float32)
            ea, eb = tf.split(emb, 2, axis=0)
            d = tf.sqrt(tf.reduce_sum(tf.square(ea - eb), axis=1) + 1e-12)
            loss = 0.5 * tf.reduce_mean(y * tf.square(d) + (1 - y) * tf.square(tf.nn.relu(1.0 - d)))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        step(images, labels).numpy()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2] if len(times) % 2 else (times[len(times) // 2 - 1] + times[len(times) // 2]) / 2
    print(json.dumps({
        "framework": f"keras {keras.__version__} / tensorflow {tf.__version__}",
        "dtype": a.dtype,
        "size": a.size,
        "batch": a.batch,
        "params": model.count_params(),
        "medianStepSec": median,
        "imagesPerSec": 2 * a.batch / median,
        # ru_maxrss is in KiB on Linux.
        "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
