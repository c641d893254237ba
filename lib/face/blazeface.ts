/**
 * BlazeFace face boxes (MediaPipe's 256x256 "back camera" model, as shipped in @vladmandic/human's models/ folder;
 * nothing is downloaded). With the landmark net it takes about half of face-api's SSD's time and finds as many faces
 * on the shared sets (bench/detector-compare). Boxes only: the five alignment points still come from face-api's 68-point landmark net
 * (lib/face/detector.ts), so alignment is the same for every detector.
 *
 * The decoding (anchors, box offsets) is hand-written because human exports no detector function, only its whole
 * pipeline; it follows human's src/face/blazeface.ts and MediaPipe's SSD anchor spec for this model.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
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

let loaded: Promise<{ model: tf.GraphModel; anchors: tf.Tensor2D }> | undefined;

function anchorCentres(): number[][] {
  const out: number[][] = [];
  for (const { stride, perCell } of ANCHOR_SPEC) {
    const cells = Math.ceil(INPUT / stride);
    for (let y = 0; y < cells; y++) for (let x = 0; x < cells; x++) for (let k = 0; k < perCell; k++) out.push([stride * (x + 0.5), stride * (y + 0.5)]);
  }
  return out;
}

/** Loads the graph model from the package folder (works on every tfjs backend, not only tfjs-node's file loader). */
export function loadBlazeFace(): Promise<{ model: tf.GraphModel; anchors: tf.Tensor2D }> {
  loaded ??= (async () => {
    const json = JSON.parse(fs.readFileSync(BLAZEFACE_MODEL, 'utf8')) as { modelTopology: object; weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }> };
    const buffers = json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(path.dirname(BLAZEFACE_MODEL), p))));
    const weightData = new Uint8Array(Buffer.concat(buffers)).buffer;
    const model = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData }));
    const anchors = tf.keep(tf.tensor2d(anchorCentres()));
    if (model.inputs[0].shape?.[1] !== INPUT) throw new Error(`${BLAZEFACE_MODEL}: expected a ${INPUT}x${INPUT} input, got ${JSON.stringify(model.inputs[0].shape)}`);
    return { model, anchors };
  })().catch((err) => {
    loaded = undefined;
    throw err;
  });
  return loaded;
}

/**
 * The model answers with four tensors, per anchor layer a score [1, n, 1] and a box with keypoints [1, n, 16]
 * (n = 512 and 384, in no guaranteed order): joined here into the anchors' order.
 */
function logitsAndBoxes(outputs: tf.Tensor[]): tf.Tensor2D {
  const find = (n: number, depth: number) => {
    const t = outputs.find((o) => o.shape[1] === n && o.shape[2] === depth);
    if (!t) throw new Error(`${BLAZEFACE_MODEL}: no [1, ${n}, ${depth}] output among ${JSON.stringify(outputs.map((o) => o.shape))}`);
    return t;
  };
  const layers = [512, 384].map((n) => tf.concat([find(n, 1), find(n, 16)], 2));
  return tf.concat(layers, 1).squeeze([0]) as tf.Tensor2D;
}

/**
 * Faces scoring at least minScore, in image pixels (a box may reach past the image's edges), highest score first. The image is padded to a square (bottom and
 * right, black) before the 256x256 resize so that faces keep their aspect ratio.
 */
export async function blazeFaceBoxes(rgb: RgbImage, minScore: number): Promise<FaceBox[]> {
  const { model, anchors } = await loadBlazeFace();
  const side = Math.max(rgb.width, rgb.height);
  const scale = side / INPUT;
  const { boxes, scores } = tf.tidy(() => {
    const image = tf.tensor3d(rgb.data, [rgb.height, rgb.width, 3], 'int32').toFloat();
    const square = image.pad([
      [0, side - rgb.height],
      [0, side - rgb.width],
      [0, 0],
    ]);
    const input = tf.image.resizeBilinear(square as tf.Tensor3D, [INPUT, INPUT]).div(127.5).sub(1).expandDims(0);
    const out = logitsAndBoxes(model.execute(input) as tf.Tensor[]); // [896, 17]: logit, box (4), 6 keypoints
    const centres = out.slice([0, 1], [-1, 2]).add(anchors);
    const half = out.slice([0, 3], [-1, 2]).div(2);
    const corners = tf.concat([centres.sub(half), centres.add(half)], 1).mul(scale) as tf.Tensor2D; // x1, y1, x2, y2
    return { boxes: corners, scores: tf.sigmoid(out.slice([0, 0], [-1, 1])).squeeze([1]) as tf.Tensor1D };
  });
  try {
    const keep = await tf.image.nonMaxSuppressionAsync(boxes, scores, MAX_FACES, IOU_THRESHOLD, minScore);
    const [b, s, k] = await Promise.all([boxes.array(), scores.array(), keep.array()]);
    keep.dispose();
    return k
      .map((i) => {
        const [x1, y1, x2, y2] = b[i];
        return { x: x1, y: y1, width: x2 - x1, height: y2 - y1, score: s[i] };
      })
      .filter((f) => f.width > 1 && f.height > 1)
      .sort((a, b2) => b2.score - a.score);
  } finally {
    boxes.dispose();
    scores.dispose();
  }
}
