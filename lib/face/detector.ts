/**
 * Face detection with 68-point landmarks, reduced to the five points alignment needs.
 *
 * Uses @vladmandic/face-api's `node-wasm` build. That build `require`s the project's own
 * @tensorflow/tfjs, so face-api and our model code share ONE tfjs engine (and one backend).
 * We never switch a backend someone else selected; when nothing was selected yet we ask
 * lib/model/backend.ts's selectBackend() (tfjs-node-gpu > tfjs-node > wasm > cpu, overridable by
 * SIAMFACE_TF_BACKEND) rather than let tfjs default to its pure-JS 'cpu' backend (~10x slower).
 * Models load from the face-api package's `model/` folder: nothing is downloaded at run time.
 */
import * as tf from '@tensorflow/tfjs';
import * as faceapi from '@vladmandic/face-api/dist/face-api.node-wasm.js';
import sharp from 'sharp';
import { SiamfaceError, badInput } from '../errors';
import { ensureBackend } from '../model/backend';
import { FACE_API_MODEL_DIR } from '../model/face-api-weights';
import { blazeFaceBoxes, loadBlazeFace, type FaceBox } from './blazeface';
import { DETECTOR_KINDS, defaultDetector, type DetectorKind } from './detector-setting';
import { decodeRgb } from './image';
import type { DetectedFace, FaceLandmarks5, Point, RgbImage } from './types';

export { DETECTOR_KINDS, defaultDetector, type DetectorKind };

export interface DetectOptions {
  /**
   * 'blazeface' (MediaPipe's BlazeFace: about 5x faster than SSD with landmarks, as many faces
   * found on the shared sets), 'ssd' (face-api's SSD MobileNet v1) or 'tiny' (face-api's Tiny Face Detector, ~3x
   * faster than SSD, misses some faces). Default: defaultDetector(). Every one takes its alignment points from the
   * same 68-point landmark net.
   */
  detector?: DetectorKind;
  /** Faces scoring below this are dropped. Default 0.5. */
  minScore?: number;
  /**
   * When nothing is found, pad the image with grey (25% per side, then 100%) and try again: SSD misses
   * faces that fill the whole frame (tight crops). Default true.
   */
  padRetry?: boolean;
  /** Names the image in error messages (file path or S3 key). */
  name?: string;
}

export interface SelectOptions extends DetectOptions {
  /** Which face to keep when there are several. Default 'largest' (box area). */
  select?: 'largest' | 'highest_score';
}

export interface FaceSelection {
  face: DetectedFace;
  /** How many faces passed minScore in the image. */
  faceCount: number;
  imageWidth: number;
  imageHeight: number;
}

const DEFAULTS = { minScore: 0.5, padRetry: true, name: 'image' };

// Measured on faces-dev: 25% rescues 27 of 37 misses, 100% the remaining 10 tight 150x150 crops.
const PAD_FRACTIONS = [0.25, 1.0];
const PAD_GREY = { r: 128, g: 128, b: 128 };
const DETECT_MAX_SIDE = 1280;

export { FACE_API_MODEL_DIR };

let modelsLoaded: Promise<void> | undefined;

/** Makes sure tfjs has a backend and the detector + landmark models are loaded (once per process). */
export function loadFaceModels(): Promise<void> {
  modelsLoaded ??= (async () => {
    if ((faceapi.tf as unknown as typeof tf).engine() !== tf.engine()) {
      throw new Error('face-api loaded a second copy of @tensorflow/tfjs; dedupe node_modules so both share one engine');
    }
    await ensureBackend();
    await tf.ready();
    await Promise.all([
      faceapi.nets.ssdMobilenetv1.loadFromDisk(FACE_API_MODEL_DIR),
      faceapi.nets.tinyFaceDetector.loadFromDisk(FACE_API_MODEL_DIR),
      faceapi.nets.faceLandmark68Net.loadFromDisk(FACE_API_MODEL_DIR),
      loadBlazeFace(),
    ]);
  })().catch((err) => {
    modelsLoaded = undefined;
    throw err;
  });
  return modelsLoaded;
}

/** All faces in the image scoring at least minScore, highest score first. */
export async function detectFaces(image: Buffer | RgbImage, options: DetectOptions = {}): Promise<DetectedFace[]> {
  const opts = { ...DEFAULTS, ...options, detector: options.detector ?? defaultDetector() };
  validate(opts);
  await loadFaceModels();
  const rgb = await decodeRgb(image, opts.name);
  const { image: small, scale } = await limitSize(rgb);
  let faces = await detectOnce(small, opts);
  for (const fraction of opts.padRetry ? PAD_FRACTIONS : []) {
    if (faces.length > 0) break;
    faces = await detectPadded(small, fraction, opts);
  }
  return faces.map((f) => (scale === 1 ? f : mapFace(f, (p) => [(p[0] + 0.5) / scale - 0.5, (p[1] + 0.5) / scale - 0.5], scale))).sort((a, b) => b.score - a.score);
}

/**
 * SSD looks at a 512x512 resize anyway; a 4000-px photo only costs time and memory as an int32
 * tensor. Detect on a copy whose long side is at most DETECT_MAX_SIDE and scale the points back.
 */
async function limitSize(rgb: RgbImage): Promise<{ image: RgbImage; scale: number }> {
  const longSide = Math.max(rgb.width, rgb.height);
  if (longSide <= DETECT_MAX_SIDE) return { image: rgb, scale: 1 };
  const width = Math.max(1, Math.round((rgb.width * DETECT_MAX_SIDE) / longSide));
  const height = Math.max(1, Math.round((rgb.height * DETECT_MAX_SIDE) / longSide));
  const data = await sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  return { image: { data, width, height }, scale: width / rgb.width };
}

/** The face with every point moved by `move` (box corners too; sizes divided by `scale`). */
function mapFace(f: DetectedFace, move: (p: Point) => Point, scale: number): DetectedFace {
  const [x, y] = move([f.box.x, f.box.y]);
  const l = f.landmarks;
  return {
    ...f,
    box: { x, y, width: f.box.width / scale, height: f.box.height / scale },
    landmarks: { leftEye: move(l.leftEye), rightEye: move(l.rightEye), nose: move(l.nose), mouthLeft: move(l.mouthLeft), mouthRight: move(l.mouthRight) },
  };
}

/** The one face to verify: the largest (default) or highest-scoring one. Throws 'no_face' when none. */
export async function detectLargestFace(image: Buffer | RgbImage, options: SelectOptions = {}): Promise<FaceSelection> {
  const name = options.name ?? DEFAULTS.name;
  const rgb = await decodeRgb(image, name);
  const faces = await detectFaces(rgb, options);
  if (faces.length === 0) {
    throw new SiamfaceError('no_face', `no face found in ${name} (${rgb.width}x${rgb.height}, minScore ${options.minScore ?? DEFAULTS.minScore})`, {
      details: { image: name },
    });
  }
  const select = options.select ?? 'largest';
  const key = select === 'largest' ? (f: DetectedFace) => f.box.width * f.box.height : (f: DetectedFace) => f.score;
  const face = faces.reduce((best, f) => (key(f) > key(best) ? f : best));
  return { face, faceCount: faces.length, imageWidth: rgb.width, imageHeight: rgb.height };
}

function validate(opts: Required<DetectOptions>): void {
  if (!DETECTOR_KINDS.includes(opts.detector)) throw badInput(`detector must be one of ${DETECTOR_KINDS.join(', ')}, got '${String(opts.detector)}'`);
  if (!(opts.minScore >= 0 && opts.minScore <= 1)) throw badInput(`minScore must be in [0, 1], got ${opts.minScore}`);
}

async function detectOnce(rgb: RgbImage, opts: Required<DetectOptions>): Promise<DetectedFace[]> {
  if (opts.detector === 'blazeface') return detectWithBlazeFace(rgb, opts.minScore);
  const input = faceapi.tf.tensor3d(new Int32Array(rgb.data), [rgb.height, rgb.width, 3], 'int32');
  try {
    const detectorOptions =
      opts.detector === 'tiny'
        ? new faceapi.TinyFaceDetectorOptions({ scoreThreshold: opts.minScore, inputSize: 416 })
        : new faceapi.SsdMobilenetv1Options({ minConfidence: opts.minScore });
    const results = await faceapi.detectAllFaces(input, detectorOptions).withFaceLandmarks();
    return results.map((r) => ({
      box: { x: r.detection.box.x, y: r.detection.box.y, width: r.detection.box.width, height: r.detection.box.height },
      score: r.detection.score,
      landmarks: fivePoints(r.landmarks.positions),
    }));
  } finally {
    input.dispose();
  }
}

/**
 * Where SSD's box would be, from BlazeFace's: the landmark net was trained on (and is used here with) SSD-like boxes,
 * which sit higher and are taller than BlazeFace's. Medians over 111 faces of the three shared sets (SSD box against
 * BlazeFace box, centre offsets in BlazeFace box sides): x -0.022, y -0.088, width x0.92, height x1.13.
 */
const SSD_FROM_BLAZEFACE = { dx: -0.022, dy: -0.088, width: 0.92, height: 1.13 };

async function detectWithBlazeFace(rgb: RgbImage, minScore: number): Promise<DetectedFace[]> {
  const boxes = await blazeFaceBoxes(rgb, minScore);
  if (!boxes.length) return [];
  // A box wholly outside the image has nothing to crop (extractFaceTensors would drop it and shift the rest).
  const found = boxes.map((b) => ({ score: b.score, rect: landmarkBox(b, rgb) })).filter((f) => f.rect.width > 0 && f.rect.height > 0);
  const input = faceapi.tf.tensor3d(new Int32Array(rgb.data), [rgb.height, rgb.width, 3], 'int32');
  let crops: Awaited<ReturnType<typeof faceapi.extractFaceTensors>> = [];
  try {
    crops = await faceapi.extractFaceTensors(input, found.map((f) => f.rect));
    const faces: DetectedFace[] = [];
    for (const [i, { score, rect: r }] of found.entries()) {
      const marks = (await faceapi.nets.faceLandmark68Net.detectLandmarks(crops[i])) as faceapi.FaceLandmarks68;
      faces.push({ box: { x: r.x, y: r.y, width: r.width, height: r.height }, score, landmarks: fivePoints(marks.shiftBy(r.x, r.y).positions) });
    }
    return faces;
  } finally {
    input.dispose();
    for (const c of crops) c.dispose();
  }
}

/** The SSD-like box the landmark net reads, clipped to the image and floored as face-api crops it. */
function landmarkBox(b: FaceBox, rgb: RgbImage): faceapi.Box {
  const side = Math.sqrt(b.width * b.height);
  const width = b.width * SSD_FROM_BLAZEFACE.width;
  const height = b.height * SSD_FROM_BLAZEFACE.height;
  const cx = b.x + b.width / 2 + SSD_FROM_BLAZEFACE.dx * side;
  const cy = b.y + b.height / 2 + SSD_FROM_BLAZEFACE.dy * side;
  return new faceapi.Rect(cx - width / 2, cy - height / 2, width, height).clipAtImageBorders(rgb.width, rgb.height);
}

async function detectPadded(rgb: RgbImage, fraction: number, opts: Required<DetectOptions>): Promise<DetectedFace[]> {
  const padX = Math.round(rgb.width * fraction);
  const padY = Math.round(rgb.height * fraction);
  const { data, info } = await sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } })
    .extend({ left: padX, right: padX, top: padY, bottom: padY, background: PAD_GREY })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const faces = await detectOnce({ data, width: info.width, height: info.height }, opts);
  return faces.map((f) => mapFace(f, ([x, y]) => [x - padX, y - padY], 1));
}

/**
 * iBUG 68-point layout: 36-41 the eye on the image's left, 42-47 the other eye, 30 the nose tip,
 * 48 and 54 the mouth corners. Eye centres are the mean of their six contour points.
 */
export function fivePoints(positions: ReadonlyArray<{ x: number; y: number }>): FaceLandmarks5 {
  if (positions.length !== 68) throw new Error(`expected 68 landmarks, got ${positions.length}`);
  const mean = (from: number, to: number): Point => {
    let sx = 0;
    let sy = 0;
    for (let i = from; i <= to; i++) {
      sx += positions[i].x;
      sy += positions[i].y;
    }
    const n = to - from + 1;
    return [sx / n, sy / n];
  };
  const at = (i: number): Point => [positions[i].x, positions[i].y];
  return { leftEye: mean(36, 41), rightEye: mean(42, 47), nose: at(30), mouthLeft: at(48), mouthRight: at(54) };
}
