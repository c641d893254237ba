/**
 * Adam with its state in two flat buffers: the same arithmetic as tf.train.adam, in ~20 eager ops per step
 * instead of ~14 per variable.
 *
 * Why: tfjs runs an optimizer op by op, and tf.train.adam spends 14 of them on each variable. DenseNet121's tower
 * has ~610 variables, so that is ~8,500 eager TensorFlow calls per step on tfjs-node. Measured with
 * bench/train-profile, that was most of a step's kernel calls and a large share of its time. Here the gradients
 * are concatenated into one vector, the Adam arithmetic runs once on the whole vector, and one split hands each
 * variable its update.
 *
 * The arithmetic is tf.train.adam's, element by element and in the same order (m, v, the bias corrections,
 * lr * m_hat / (sqrt(v_hat) + eps), then value + update). Elementwise float ops do not depend on how elements are
 * grouped into tensors, so the weights come out bit-identical (test/unit/train/flat-adam.test.ts). The state
 * moves in and out in tf.train.adam's own layout (getWeights / setWeights: iteration count, then `<variable>/m`
 * per variable, then `<variable>/v`), so checkpoints written by either optimizer restore into the other.
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedTensor } from '../model/io';

interface FlatLayout {
  names: string[];
  shapes: number[][];
  sizes: number[];
  /**
   * Set by setWeights: the names are the saving process's, and, as in tf.train.adam, the state is positional. The
   * first step adopts its variables' names after checking that their shapes match, position by position.
   */
  positional?: boolean;
}

export class FlatAdamOptimizer extends tf.AdamOptimizer {
  private flatM: tf.Variable | null = null;
  private flatV: tf.Variable | null = null;
  private layout: FlatLayout | null = null;

  /** tf.train.adam's defaults: beta1 0.9, beta2 0.999, the backend's epsilon. */
  constructor(learningRate: number, beta1 = 0.9, beta2 = 0.999, epsilon?: number) {
    super(learningRate, beta1, beta2, epsilon);
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const list = Array.isArray(variableGradients) ? variableGradients : Object.keys(variableGradients).map((name) => ({ name, tensor: variableGradients[name] }));
    const names = list.map((g) => g.name);
    const missing = list.filter((g) => g.tensor == null).map((g) => g.name);
    // tf.train.adam skips a variable without a gradient; a flat update cannot, and our towers never produce one.
    if (missing.length) throw new Error(`FlatAdamOptimizer: no gradient for ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''}`);
    const values = names.map((name) => {
      const v = tf.engine().registeredVariables[name];
      if (!v) throw new Error(`FlatAdamOptimizer: ${name} is not a registered variable`);
      return v;
    });
    let layout = this.layout;
    if (!layout) {
      layout = this.layout = { names, shapes: values.map((v) => v.shape), sizes: values.map((v) => v.size) };
      const total = layout.sizes.reduce((a, b) => a + b, 0);
      this.flatM = tf.zeros([total]).variable(false);
      this.flatV = tf.zeros([total]).variable(false);
    } else if (layout.positional) {
      const mismatch = values.findIndex((v, i) => !tf.util.arraysEqual(v.shape, layout!.shapes[i]));
      if (values.length !== layout.names.length || mismatch >= 0) {
        const where = mismatch >= 0 ? `: ${names[mismatch]} is [${values[mismatch].shape}], the state has [${layout.shapes[mismatch]}]` : '';
        throw new Error(`FlatAdamOptimizer: the restored state does not fit the variables (${names.length} given, ${layout.names.length} in the state${where})`);
      }
      layout = this.layout = { names, shapes: layout.shapes, sizes: layout.sizes };
    } else if (names.length !== layout.names.length || names.some((n, i) => n !== layout!.names[i])) {
      const first = names.findIndex((n, i) => n !== layout!.names[i]);
      throw new Error(`FlatAdamOptimizer: the variables changed (${names.length} given, ${layout.names.length} in the state; first difference: ${names[first] ?? 'none'} at ${first}); use a new optimizer`);
    }
    const { sizes } = layout;
    const { beta1, beta2, learningRate, epsilon } = this as unknown as { beta1: number; beta2: number; learningRate: number; epsilon: number };
    const internals = this as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
    tf.tidy(() => {
      const oneMinusAccBeta1 = tf.sub(1, internals.accBeta1);
      const oneMinusAccBeta2 = tf.sub(1, internals.accBeta2);
      const g = tf.concat(list.map((x) => tf.reshape(x.tensor as tf.Tensor, [-1])));
      const m = this.flatM!;
      const v = this.flatV!;
      const newM = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
      const newV = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
      const mHat = tf.div(newM, oneMinusAccBeta1);
      const vHat = tf.div(newV, oneMinusAccBeta2);
      m.assign(newM);
      v.assign(newV);
      const update = tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), epsilon)), -learningRate);
      const parts = tf.split(update, sizes);
      values.forEach((value, i) => value.assign(tf.add(tf.reshape(parts[i], value.shape), value)));
      internals.accBeta1.assign(tf.mul(internals.accBeta1, beta1));
      internals.accBeta2.assign(tf.mul(internals.accBeta2, beta2));
    });
    this.incrementIterations();
  }

  /**
   * tf.train.adam's layout: the iteration count, then each variable's first moment, then each second moment.
   * Unlike tf.train.adam's, these are fresh tensors: dispose them after use.
   */
  override async getWeights(): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [await this.saveIterations()];
    if (!this.layout) return out;
    const { names, shapes, sizes } = this.layout;
    for (const [flat, suffix] of [[this.flatM!, 'm'], [this.flatV!, 'v']] as const) {
      const parts = tf.split(flat, sizes);
      parts.forEach((p, i) => {
        out.push({ name: `${names[i]}/${suffix}`, tensor: tf.reshape(p, shapes[i]) });
        p.dispose();
      });
    }
    return out;
  }

  /** Takes tf.train.adam's layout (see getWeights); the tensors passed in are consumed (disposed). */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const { beta1, beta2 } = this as unknown as { beta1: number; beta2: number };
    const internals = this as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable; iterations_: number };
    tf.tidy(() => {
      internals.accBeta1.assign(tf.pow(beta1, internals.iterations_ + 1));
      internals.accBeta2.assign(tf.pow(beta2, internals.iterations_ + 1));
    });
    tf.dispose(weightValues[0].tensor);
    const count = rest.length / 2;
    if (!Number.isInteger(count)) throw new Error(`FlatAdamOptimizer.setWeights: expected first and second moments in pairs, got ${rest.length} tensors`);
    const firsts = rest.slice(0, count);
    const seconds = rest.slice(count);
    firsts.forEach((w, i) => {
      const expected = w.name.replace(/\/m$/, '/v');
      if (!w.name.endsWith('/m') || seconds[i].name !== expected) throw new Error(`FlatAdamOptimizer.setWeights: expected ${expected} after ${w.name}, got ${seconds[i].name}`);
    });
    this.disposeState();
    this.layout = { names: firsts.map((w) => w.name.slice(0, -2)), shapes: firsts.map((w) => w.tensor.shape), sizes: firsts.map((w) => w.tensor.size), positional: true };
    const flat = (ws: NamedTensor[]) => (ws.length ? tf.tidy(() => tf.concat(ws.map((w) => tf.reshape(w.tensor, [-1])))) : tf.zeros([0])).variable(false);
    this.flatM = flat(firsts);
    this.flatV = flat(seconds);
    tf.dispose(rest.map((w) => w.tensor));
  }

  override dispose(): void {
    super.dispose();
    this.disposeState();
  }

  private disposeState(): void {
    this.flatM?.dispose();
    this.flatV?.dispose();
    this.flatM = null;
    this.flatV = null;
    this.layout = null;
  }
}
