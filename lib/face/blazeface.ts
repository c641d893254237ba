/**
 * BlazeFace face boxes (MediaPipe's 256x256 "back camera" model, as shipped in @vladmandic/human's models/ folder;
 * nothing is downloaded), converted to ONNX at load and run by ONNX Runtime: ~9 ms an image, against ~48 ms as a tfjs
 * graph model on tfjs-node. It finds as many faces as face-api's SSD on the shared sets (bench/detector-compare).
 * Boxes only: the five alignment points still come from face-api's 68-point landmark net (lib/face/detector.ts), so
 * alignment is the same for every detector.
 *
 * The decoding (anchors, box offsets) is hand-written because human exports no detector function, only its whole
 * pipeline; it follows human's src/face/blazeface.ts and MediaPipe's SSD anchor spec for this model.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { graphModelToOnnx, type GraphNodeDef } from '../infer/graph-model-onnx';
import type { RgbImage } from './types';

export const BLAZEFACE_MODEL = path.join(path.dirname(require.resolve('@vladmandic/human')), '..', 'models', 'blazeface.json');
const INPUT = 256;
/** Anchor layout of the 256 model: 16x16 cells with 2 anchors, then 8x8 cells with 6 (896 in all). */
const ANCHOR_SPEC = [
  { stride: 16, perCell: 2 },
  { stride: 32, perCell: 6 },
];
const IOU_THRESHOLD = 0.3;
const MAX_FACES = 20;

export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
  score: number;
}

interface BlazeFaceRunner {
  session: ort.InferenceSession;
  anchors: Float32Array;
}

let loaded: Promise<BlazeFaceRunner> | undefined;

function anchorCentres(): Float32Array {
  const out: number[] = [];
  for (const { stride, perCell } of ANCHOR_SPEC) {
    const cells = Math.ceil(INPUT / stride);
    for (let y = 0; y < cells; y++) for (let x = 0; x < cells; x++) for (let k = 0; k < perCell; k++) out.push(stride * (x + 0.5), stride * (y + 0.5));
  }
  return Float32Array.from(out);
}

/** The tfjs graph model from the package folder (works on every tfjs backend, not only tfjs-node's file loader). */
export async function loadBlazeFaceGraph(): Promise<{ model: tf.GraphModel; nodes: GraphNodeDef[] }> {
  const json = JSON.parse(fs.readFileSync(BLAZEFACE_MODEL, 'utf8')) as { modelTopology: { node: GraphNodeDef[] }; weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }> };
  const buffers = json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(path.dirname(BLAZEFACE_MODEL), p))));
  const weightData = new Uint8Array(Buffer.concat(buffers)).buffer;
  const model = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData }));
  if (model.inputs[0].shape?.[1] !== INPUT) throw new Error(`${BLAZEFACE_MODEL}: expected a ${INPUT}x${INPUT} input, got ${JSON.stringify(model.inputs[0].shape)}`);
  return { model, nodes: json.modelTopology.node };
}

/** BlazeFace converted to ONNX once per process (lib/infer/graph-model-onnx) and run by ONNX Runtime. */
export function loadBlazeFace(): Promise<BlazeFaceRunner> {
  loaded ??= (async () => {
    const { model, nodes } = await loadBlazeFaceGraph();
    try {
      const onnx = graphModelToOnnx(nodes, model.weights, [1, INPUT, INPUT, 3], 'blazeface');
      const session = await ort.InferenceSession.create(onnx, { graphOptimizationLevel: 'all', executionProviders: ['cpu'] });
      return { session, anchors: anchorCentres() };
    } finally {
      model.dispose();
    }
  })().catch((err) => {
    loaded = undefined;
    throw err;
  });
  return loaded;
}

/**
 * The model answers with four tensors, per anchor layer a score [1, n, 1] and a box with keypoints [1, n, 16]
 * (n = 512 and 384, in no guaranteed order): read here in the anchors' order as (logit, box) per anchor.
 */
export function anchorOutputs(outputs: Array<{ dims: readonly number[]; data: Float32Array }>): { logits: Float32Array; boxes: Float32Array } {
  const find = (n: number, depth: number) => {
    const t = outputs.find((o) => o.dims[1] === n && o.dims[2] === depth);
    if (!t) throw new Error(`${BLAZEFACE_MODEL}: no [1, ${n}, ${depth}] output among ${JSON.stringify(outputs.map((o) => o.dims))}`);
    return t.data;
  };
  const logits = new Float32Array(896);
  const boxes = new Float32Array(896 * 4);
  let k = 0;
  for (const n of [512, 384]) {
    const [score, box] = [find(n, 1), find(n, 16)];
    for (let i = 0; i < n; i++, k++) {
      logits[k] = score[i];
      for (let j = 0; j < 4; j++) boxes[4 * k + j] = box[16 * i + j];
    }
  }
  return { logits, boxes };
}

/**
 * Faces scoring at least minScore, in image pixels (a box may reach past the image's edges), highest score first.
 * The image is padded to a square (bottom and right, black) before the 256x256 resize so faces keep their shape.
 */
export async function blazeFaceBoxes(rgb: RgbImage, minScore: number): Promise<FaceBox[]> {
  const { session, anchors } = await loadBlazeFace();
  const side = Math.max(rgb.width, rgb.height);
  const scale = side / INPUT;
  const input = tf.tidy(() => {
    const image = tf.tensor3d(rgb.data, [rgb.height, rgb.width, 3], 'int32').toFloat();
    const square = image.pad([
      [0, side - rgb.height],
      [0, side - rgb.width],
      [0, 0],
    ]) as tf.Tensor3D;
    return tf.image.resizeBilinear(square, [INPUT, INPUT]).div(127.5).sub(1);
  });
  const pixels = (await input.data()) as Float32Array;
  input.dispose();
  const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', pixels, [1, INPUT, INPUT, 3]) });
  const { logits, boxes } = anchorOutputs(session.outputNames.map((n) => ({ dims: result[n].dims, data: result[n].data as Float32Array })));
  for (const n of session.outputNames) result[n].dispose();
  // Box centres are offsets from the anchor, sizes absolute, all in input pixels.
  const corners = new Float32Array(896 * 4);
  const scores = new Float32Array(896);
  for (let i = 0; i < 896; i++) {
    const cx = boxes[4 * i] + anchors[2 * i];
    const cy = boxes[4 * i + 1] + anchors[2 * i + 1];
    const hw = boxes[4 * i + 2] / 2;
    const hh = boxes[4 * i + 3] / 2;
    corners.set([(cx - hw) * scale, (cy - hh) * scale, (cx + hw) * scale, (cy + hh) * scale], 4 * i);
    scores[i] = 1 / (1 + Math.exp(-logits[i]));
  }
  // tf.image's NMS (IoU is symmetric in x and y, so x1, y1, x2, y2 serves as well as its y-first order).
  const [boxTensor, scoreTensor] = [tf.tensor2d(corners, [896, 4]), tf.tensor1d(scores)];
  const keep = await tf.image.nonMaxSuppressionAsync(boxTensor, scoreTensor, MAX_FACES, IOU_THRESHOLD, minScore);
  const kept = Array.from(await keep.data());
  tf.dispose([boxTensor, scoreTensor, keep]);
  return kept
    .map((i) => ({ x: corners[4 * i], y: corners[4 * i + 1], width: corners[4 * i + 2] - corners[4 * i], height: corners[4 * i + 3] - corners[4 * i + 1], score: scores[i] }))
    .filter((f) => f.width > 1 && f.height > 1)
    .sort((a, b) => b.score - a.score);
}
