/**
 * tfjs LayersModel -> ONNX ModelProto, for fast inference with onnxruntime (6-12x the wasm
 * backend here). Covers the layers our embedding towers use (one converter per layer class: CONVERTERS) and fails
 * with a clear message on anything else rather than exporting a wrong graph.
 *
 * Layout: tfjs is NHWC. The ONNX model keeps tfjs's interface (input [N, H, W, C] float32, the
 * same preprocessed tensor the tfjs model takes; outputs as tfjs gives them) and transposes to
 * NCHW once after the input, because onnxruntime's convolution kernels are NCHW. Kernels are
 * converted HWIO -> OIHW. BatchNormalization directly after a Conv2D/Dense with a linear
 * activation is folded into that layer's weights; elsewhere (DenseNet's pre-activation BNs) it
 * stays a BatchNormalization node.
 */
import * as tf from '@tensorflow/tfjs';
import { badInput } from '../errors';
import {
  OnnxAttributeType,
  OnnxDataType,
  encodeModel,
  type OnnxAttribute,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from './onnx-proto';

export interface OnnxExportOptions {
  /** ONNX opset, 13-17 (the ops used have the same signatures across that range). Default 13. */
  opset?: number;
  /** Fold BatchNormalization into a preceding Conv2D/Dense. Default true. */
  foldBatchNorm?: boolean;
  /** Name of the graph input. Default 'input'. */
  inputName?: string;
  /** Names of the graph outputs. Default ['embedding'] for one output, else output_0, output_1, ... */
  outputNames?: string[];
  /** Stored as ONNX metadata_props (e.g. model version, input size, preprocessing). */
  metadata?: Record<string, string>;
}


const MIN_OPSET = 13;
const MAX_OPSET = 17;
/** IR version 7 is the oldest that allows opset 13; 8 is needed from opset 15's era onward. */
export const irVersionFor = (opset: number) => (opset >= 15 ? 8 : 7);

type Shape = Array<number | null>;

/** An ONNX value standing for a tfjs symbolic tensor. Rank-4 values are NCHW in the graph. */
interface Value {
  name: string;
  /** The tfjs (NHWC) shape, batch dimension null. */
  shape: Shape;
}

/** A Conv/Gemm whose weights a following BatchNormalization may still be folded into. */
interface Foldable {
  node: OnnxNode;
  weight: OnnxTensor;
  weightData: Float32Array;
  /** Elements per output channel in `weightData` and how to find them. */
  layout: 'OIHW' | 'IO';
  outChannels: number;
  bias?: { tensor: OnnxTensor; data: Float32Array };
}

interface LayerWeights {
  [suffix: string]: { data: Float32Array; shape: number[] };
}

/** Builds an ONNX graph: unique names, initializers and nodes (shared with ./graph-model-onnx). */
export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private readonly used = new Set<string>();

  unique(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_./:-]/g, '_') || 'v';
    let name = clean;
    for (let i = 1; this.used.has(name); i++) name = `${clean}_${i}`;
    this.used.add(name);
    return name;
  }

  floats(base: string, dims: number[], data: Float32Array): OnnxTensor {
    const t: OnnxTensor = { name: this.unique(base), dims, dataType: OnnxDataType.FLOAT, rawData: float32Bytes(data) };
    this.initializers.push(t);
    return t;
  }

  int64s(base: string, values: number[]): OnnxTensor {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    const t: OnnxTensor = {
      name: this.unique(base),
      dims: [values.length],
      dataType: OnnxDataType.INT64,
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    };
    this.initializers.push(t);
    return t;
  }

  node(opType: string, base: string, inputs: string[], attrs: OnnxAttribute[] = [], outputName?: string): OnnxNode {
    const n: OnnxNode = { name: this.unique(`${base}/${opType}`), opType, input: inputs, output: [outputName ?? this.unique(`${base}/${opType}:0`)], attribute: attrs };
    this.nodes.push(n);
    return n;
  }
}

export const ints = (name: string, values: number[]): OnnxAttribute => ({ name, type: OnnxAttributeType.INTS, ints: values });
export const int = (name: string, value: number): OnnxAttribute => ({ name, type: OnnxAttributeType.INT, i: value });
const float = (name: string, value: number): OnnxAttribute => ({ name, type: OnnxAttributeType.FLOAT, f: value });
export const str = (name: string, value: string): OnnxAttribute => ({ name, type: OnnxAttributeType.STRING, s: Buffer.from(value, 'utf8') });

function float32Bytes(data: Float32Array): Uint8Array {
  const copy = new Float32Array(data); // own buffer: initializers may be edited later (BN folding)
  return new Uint8Array(copy.buffer);
}

/** Exports a functional (or Sequential) tfjs model to ONNX bytes. */
export function exportToOnnx(model: tf.LayersModel, options: OnnxExportOptions = {}): Uint8Array {
  return encodeModel(buildOnnxModel(model, options));
}

/** The ONNX model as a plain object (for inspection and tests); exportToOnnx encodes it. */
export function buildOnnxModel(model: tf.LayersModel, options: OnnxExportOptions = {}): OnnxModel {
  const opset = options.opset ?? MIN_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) throw badInput(`ONNX export: opset must be ${MIN_OPSET}-${MAX_OPSET}, got ${opset}`);
  const foldBatchNorm = options.foldBatchNorm ?? true;
  const container = graphContainer(model);
  if (container.inputs.length !== 1) throw badInput(`ONNX export: model '${model.name}' has ${container.inputs.length} inputs; only single-input models are supported`);

  const g = new GraphBuilder();
  const values = new Map<number, Value>(); // SymbolicTensor.id -> ONNX value
  const foldables = new Map<string, Foldable>(); // ONNX value name -> producer that can absorb a BN
  const consumers = countConsumers(container);

  const inputTensor = container.inputs[0];
  const inputName = g.unique(options.inputName ?? 'input');
  const inputShape = inputTensor.shape as Shape;
  const graphInput = valueInfo(inputName, inputShape);
  if (inputShape.length === 4) {
    const nchw = g.node('Transpose', 'input_to_nchw', [inputName], [ints('perm', [0, 3, 1, 2])]);
    values.set(inputTensor.id, { name: nchw.output[0], shape: inputShape });
  } else {
    values.set(inputTensor.id, { name: inputName, shape: inputShape });
  }

  const depths = Object.keys(container.nodesByDepth)
    .map(Number)
    .sort((a, b) => b - a);
  for (const depth of depths) {
    for (const node of container.nodesByDepth[depth]) {
      const layer = node.outboundLayer;
      const className = layer.getClassName();
      if (className === 'InputLayer') continue;
      const inputs = node.inputTensors.map((t) => {
        const v = values.get(t.id);
        if (!v) throw new Error(`ONNX export: layer '${layer.name}' reads a tensor that was not produced yet (${t.name})`);
        return v;
      });
      if (node.outputTensors.length !== 1) throw badInput(`ONNX export: layer '${layer.name}' (${className}) has ${node.outputTensors.length} outputs; expected 1`);
      const out = node.outputTensors[0];
      const ctx: LayerContext = { g, layer, className, inputs, inputIds: node.inputTensors.map((t) => t.id), outShape: out.shape as Shape, foldables, foldBatchNorm, consumers };
      const name = convertLayer(ctx);
      values.set(out.id, { name, shape: out.shape as Shape });
    }
  }

  const outputNames = options.outputNames ?? (container.outputs.length === 1 ? ['embedding'] : container.outputs.map((_, i) => `output_${i}`));
  if (outputNames.length !== container.outputs.length) throw badInput(`ONNX export: ${outputNames.length} output names for ${container.outputs.length} outputs`);
  const graphOutputs = container.outputs.map((t, i) => {
    const v = values.get(t.id);
    if (!v) throw new Error(`ONNX export: model output ${t.name} was never produced`);
    const name = g.unique(outputNames[i]);
    if (v.shape.length === 4) g.node('Transpose', `${name}_to_nhwc`, [v.name], [ints('perm', [0, 2, 3, 1])], name);
    else g.node('Identity', name, [v.name], [], name);
    return valueInfo(name, t.shape as Shape);
  });

  return {
    irVersion: irVersionFor(opset),
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'siamface',
    producerVersion: '1',
    docString: `Exported from tfjs model '${model.name}'. Input NHWC float32, preprocessed exactly as for the tfjs model.`,
    graph: {
      name: model.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [graphInput],
      output: graphOutputs,
    },
    metadataProps: Object.entries({ source_model: model.name, input_layout: 'NHWC', ...options.metadata }).map(([key, value]) => ({ key, value })),
  };
}

type Container = {
  inputs: tf.SymbolicTensor[];
  outputs: tf.SymbolicTensor[];
  nodesByDepth: Record<string, Array<{ outboundLayer: tf.layers.Layer; inputTensors: tf.SymbolicTensor[]; outputTensors: tf.SymbolicTensor[] }>>;
};

function graphContainer(model: tf.LayersModel): Container {
  // A Sequential keeps its functional graph in an inner model.
  const inner = (model as unknown as { model?: tf.LayersModel }).model;
  const c = (model instanceof tf.Sequential && inner ? inner : model) as unknown as Container;
  if (!c.nodesByDepth || !c.inputs) throw badInput(`ONNX export: model '${model.name}' has no layer graph (not built?)`);
  return c;
}

function countConsumers(c: Container): Map<number, number> {
  const counts = new Map<number, number>();
  const bump = (t: tf.SymbolicTensor) => counts.set(t.id, (counts.get(t.id) ?? 0) + 1);
  for (const nodes of Object.values(c.nodesByDepth)) for (const n of nodes) n.inputTensors.forEach(bump);
  c.outputs.forEach(bump);
  return counts;
}

export function valueInfo(name: string, shape: Shape): OnnxValueInfo {
  return {
    name,
    type: {
      tensorType: {
        elemType: OnnxDataType.FLOAT,
        shape: { dim: shape.map((d, i) => (d === null || d === undefined ? { dimParam: i === 0 ? 'N' : `d${i}` } : { dimValue: d })) },
      },
    },
  };
}

interface LayerContext {
  g: GraphBuilder;
  layer: tf.layers.Layer;
  className: string;
  inputs: Value[];
  /** SymbolicTensor ids of the inputs (for consumer counts). */
  inputIds: number[];
  outShape: Shape;
  foldables: Map<string, Foldable>;
  foldBatchNorm: boolean;
  consumers: Map<number, number>;
}

type Converter = (ctx: LayerContext, cfg: Record<string, unknown>, unsupported: (why: string) => Error) => string;

const pool: Converter = (ctx, cfg, unsupported) => {
  requireChannelsLast(cfg, unsupported);
  const x = ctx.inputs[0];
  const kernel = cfg.poolSize as [number, number];
  const strides = (cfg.strides as [number, number] | null) ?? kernel;
  const attrs = [ints('kernel_shape', kernel), ints('strides', strides), ints('pads', spatialPads(x.shape, kernel, strides, [1, 1], cfg.padding, unsupported))];
  return ctx.g.node(ctx.className === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', ctx.layer.name, [x.name], attrs).output[0];
};

const globalPool: Converter = (ctx, cfg, unsupported) => {
  requireChannelsLast(cfg, unsupported);
  if (cfg.keepDims) throw unsupported('keepDims is not supported');
  const pooled = ctx.g.node(ctx.className === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool', ctx.layer.name, [ctx.inputs[0].name]).output[0];
  return ctx.g.node('Flatten', ctx.layer.name, [pooled], [int('axis', 1)]).output[0];
};

const elementwise: Converter = (ctx) => {
  const op = ctx.className === 'Add' ? 'Add' : 'Mul';
  return ctx.inputs.slice(1).reduce((acc, v) => ctx.g.node(op, ctx.layer.name, [acc, v.name]).output[0], ctx.inputs[0].name);
};

/** One converter per tfjs layer class: the single list of what the exporter supports. */
const CONVERTERS: Readonly<Record<string, Converter>> = {
  Conv2D: (ctx, cfg, unsupported) => activation(ctx, conv2d(ctx, cfg, unsupported), cfg.activation),
  Dense: (ctx, cfg, unsupported) => activation(ctx, dense(ctx, cfg, unsupported), cfg.activation),
  BatchNormalization: batchNorm,
  FreezableBatchNormalization: batchNorm,
  ChannelScale: channelScale,
  Activation: (ctx, cfg) => activation(ctx, ctx.inputs[0].name, cfg.activation),
  ReLU: (ctx, cfg) => {
    const { g, layer } = ctx;
    const x = ctx.inputs[0];
    if (cfg.maxValue === null || cfg.maxValue === undefined) return g.node('Relu', layer.name, [x.name]).output[0];
    const lo = g.floats(`${layer.name}/min`, [], Float32Array.of(0));
    const hi = g.floats(`${layer.name}/max`, [], Float32Array.of(cfg.maxValue as number));
    return g.node('Clip', layer.name, [x.name, lo.name, hi.name]).output[0];
  },
  LeakyReLU: (ctx, cfg) => ctx.g.node('LeakyRelu', ctx.layer.name, [ctx.inputs[0].name], [float('alpha', (cfg.alpha as number) ?? 0.3)]).output[0],
  ZeroPadding2D: (ctx, cfg, unsupported) => {
    requireChannelsLast(cfg, unsupported);
    const [[top, bottom], [left, right]] = cfg.padding as [[number, number], [number, number]];
    const pads = ctx.g.int64s(`${ctx.layer.name}/pads`, [0, 0, top, left, 0, 0, bottom, right]);
    return ctx.g.node('Pad', ctx.layer.name, [ctx.inputs[0].name, pads.name], [str('mode', 'constant')]).output[0];
  },
  ZeroPadChannels: (ctx, cfg, unsupported) => {
    const x = ctx.inputs[0];
    const rank = x.shape.length;
    const have = x.shape[rank - 1];
    if (typeof have !== 'number') throw unsupported('the channel count must be known');
    const pads = new Array<number>(2 * rank).fill(0);
    pads[rank + onnxAxis(-1, rank)] = (cfg.channels as number) - have; // zeros after the existing channels
    const p = ctx.g.int64s(`${ctx.layer.name}/pads`, pads);
    return ctx.g.node('Pad', ctx.layer.name, [x.name, p.name], [str('mode', 'constant')]).output[0];
  },
  MaxPooling2D: pool,
  AveragePooling2D: pool,
  GlobalAveragePooling2D: globalPool,
  GlobalMaxPooling2D: globalPool,
  Concatenate: (ctx, cfg) => ctx.g.node('Concat', ctx.layer.name, ctx.inputs.map((v) => v.name), [int('axis', onnxAxis(cfg.axis as number, ctx.inputs[0].shape.length))]).output[0],
  Add: elementwise,
  Multiply: elementwise,
  Flatten: (ctx) => {
    const x = ctx.inputs[0];
    if (x.shape.length !== 4) return ctx.g.node('Flatten', ctx.layer.name, [x.name], [int('axis', 1)]).output[0];
    // tfjs flattens NHWC order; go back to NHWC first so a following Dense sees the same vector.
    const nhwc = ctx.g.node('Transpose', ctx.layer.name, [x.name], [ints('perm', [0, 2, 3, 1])]).output[0];
    return ctx.g.node('Flatten', ctx.layer.name, [nhwc], [int('axis', 1)]).output[0];
  },
  Dropout: (ctx) => ctx.inputs[0].name, // identity at inference
  L2Normalize: (ctx, cfg) => {
    // x / sqrt(max(sum(x^2, last axis), epsilon)), as lib/model/layers.ts computes it.
    const { g, layer } = ctx;
    const x = ctx.inputs[0];
    const axis = onnxAxis(-1, x.shape.length);
    const eps = g.floats(`${layer.name}/epsilon`, [], Float32Array.of((cfg.epsilon as number) ?? 1e-12));
    const sq = g.node('ReduceSumSquare', layer.name, [x.name], [ints('axes', [axis]), int('keepdims', 1)]).output[0];
    const floored = g.node('Max', layer.name, [sq, eps.name]).output[0];
    const norm = g.node('Sqrt', layer.name, [floored]).output[0];
    return g.node('Div', layer.name, [x.name, norm]).output[0];
  },
};
/** Layer class names the exporter converts (the keys of its converter table). */
export const SUPPORTED_LAYERS: readonly string[] = ['InputLayer', ...Object.keys(CONVERTERS)];

/** Emits the nodes of one layer application; returns the ONNX name of its output. */
function convertLayer(ctx: LayerContext): string {
  const { layer, className } = ctx;
  const unsupported = (why: string) => badInput(`ONNX export: layer '${layer.name}' (${className}): ${why}`);
  const convert = CONVERTERS[className];
  if (!convert) throw unsupported(`layer type not supported (supported: ${SUPPORTED_LAYERS.join(', ')})`);
  return convert(ctx, layer.getConfig() as Record<string, unknown>, unsupported);
}

/** NHWC axis of a rank-`rank` tfjs tensor -> axis in the graph (rank-4 values are NCHW). */
export function onnxAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw badInput(`ONNX export: axis ${axis} out of range for rank ${rank}`);
  return rank === 4 ? [0, 2, 3, 1][a] : a;
}

function requireChannelsLast(cfg: Record<string, unknown>, unsupported: (why: string) => Error): void {
  if (cfg.dataFormat !== undefined && cfg.dataFormat !== 'channelsLast') throw unsupported(`dataFormat ${String(cfg.dataFormat)}; only channelsLast`);
}

/**
 * Explicit ONNX pads [top, left, bottom, right] for tfjs/TF padding. 'same' puts the odd pixel at
 * the end, as TensorFlow does (ONNX SAME_UPPER); it needs the static input size.
 */
function spatialPads(inShape: Shape, kernel: number[], strides: number[], dilation: number[], padding: unknown, unsupported: (why: string) => Error): number[] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding !== 'same') throw unsupported(`padding '${String(padding)}'`);
  const before: number[] = [];
  const after: number[] = [];
  for (let i = 0; i < 2; i++) {
    const size = inShape[1 + i];
    if (size === null || size === undefined) throw unsupported("'same' padding needs a static input size");
    const out = Math.ceil(size / strides[i]);
    const total = Math.max((out - 1) * strides[i] + (kernel[i] - 1) * dilation[i] + 1 - size, 0);
    before.push(Math.floor(total / 2));
    after.push(total - Math.floor(total / 2));
  }
  return [before[0], before[1], after[0], after[1]];
}

function layerWeights(layer: tf.layers.Layer): LayerWeights {
  const out: LayerWeights = {};
  for (const w of layer.weights) {
    const suffix = w.originalName.split('/').pop() as string;
    out[suffix] = { data: w.read().dataSync() as Float32Array, shape: w.shape as number[] };
  }
  return out;
}

function conv2d(ctx: LayerContext, cfg: Record<string, unknown>, unsupported: (why: string) => Error): string {
  const { g, layer, inputs } = ctx;
  requireChannelsLast(cfg, unsupported);
  if ((cfg.groups as number | undefined) !== undefined && cfg.groups !== 1) throw unsupported('grouped convolution');
  const w = layerWeights(layer);
  if (!w.kernel) throw unsupported('no kernel weight');
  const [kh, kw, cin, cout] = w.kernel.shape;
  const kernel = hwioToOihw(w.kernel.data, kh, kw, cin, cout);
  const strides = asPair(cfg.strides);
  const dilation = asPair(cfg.dilationRate ?? 1);
  const weight = g.floats(`${layer.name}/kernel`, [cout, cin, kh, kw], kernel);
  const node = g.node('Conv', layer.name, [inputs[0].name, weight.name], [
    ints('kernel_shape', [kh, kw]),
    ints('strides', strides),
    ints('dilations', dilation),
    ints('pads', spatialPads(inputs[0].shape, [kh, kw], strides, dilation, cfg.padding, unsupported)),
  ]);
  return withBias(ctx, cfg, w, { node, weight, weightData: kernel, layout: 'OIHW', outChannels: cout });
}

function dense(ctx: LayerContext, cfg: Record<string, unknown>, unsupported: (why: string) => Error): string {
  const { g, layer, inputs } = ctx;
  if (inputs[0].shape.length !== 2) throw unsupported(`Dense on a rank-${inputs[0].shape.length} input; only [N, features]`);
  const w = layerWeights(layer);
  if (!w.kernel) throw unsupported('no kernel weight');
  const [cin, cout] = w.kernel.shape;
  const weight = g.floats(`${layer.name}/kernel`, [cin, cout], w.kernel.data);
  const node = g.node('Gemm', layer.name, [inputs[0].name, weight.name]);
  return withBias(ctx, cfg, w, { node, weight, weightData: new Float32Array(w.kernel.data), layout: 'IO', outChannels: cout });
}

/** Adds the layer's bias (if any) to its Conv/Gemm node; a node with no activation after it can take a later scale layer (folded). */
function withBias(ctx: LayerContext, cfg: Record<string, unknown>, w: LayerWeights, foldable: Foldable): string {
  const { node } = foldable;
  if (w.bias) {
    const bias = ctx.g.floats(`${ctx.layer.name}/bias`, [foldable.outChannels], w.bias.data);
    node.input.push(bias.name);
    foldable.bias = { tensor: bias, data: new Float32Array(w.bias.data) };
  }
  if (isLinear(cfg.activation)) ctx.foldables.set(node.output[0], foldable);
  return node.output[0];
}

function batchNorm(ctx: LayerContext, cfg: Record<string, unknown>, unsupported: (why: string) => Error): string {
  const { g, layer, inputs } = ctx;
  const x = inputs[0];
  const rank = x.shape.length;
  const axis = (cfg.axis as number) ?? -1;
  if (onnxAxis(axis, rank) !== 1) throw unsupported(`normalises axis ${axis} of a rank-${rank} tensor; only the channel (last) axis`);
  const w = layerWeights(layer);
  const channels = w.moving_mean.data.length;
  const eps = (cfg.epsilon as number) ?? 1e-3;
  const gamma = w.gamma?.data ?? new Float32Array(channels).fill(1);
  const beta = w.beta?.data ?? new Float32Array(channels);
  // y = x * scale + shift, per channel (computed in float64, stored as float32)
  const scale = new Float64Array(channels);
  const shift = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    scale[c] = gamma[c] / Math.sqrt(w.moving_variance.data[c] + eps);
    shift[c] = beta[c] - w.moving_mean.data[c] * scale[c];
  }
  if (tryFold(ctx, scale, shift)) return x.name;
  const inputsOf = (suffix: string, data: ArrayLike<number>) => g.floats(`${layer.name}/${suffix}`, [channels], Float32Array.from(data)).name;
  return g.node(
    'BatchNormalization',
    layer.name,
    [x.name, inputsOf('gamma', gamma), inputsOf('beta', beta), inputsOf('moving_mean', w.moving_mean.data), inputsOf('moving_variance', w.moving_variance.data)],
    [float('epsilon', eps)],
  ).output[0];
}

/** Folds a per-channel affine map into the conv/dense that produced its input, when that is the input's only consumer. */
function tryFold(ctx: LayerContext, scale: Float64Array, shift: Float64Array): boolean {
  const x = ctx.inputs[0];
  const producer = ctx.foldables.get(x.name);
  const singleConsumer = ctx.consumers.get(ctx.inputIds[0]) === 1;
  if (!(ctx.foldBatchNorm && producer && singleConsumer && producer.outChannels === scale.length)) return false;
  foldInto(ctx.g, producer, scale, shift, ctx.layer.name);
  ctx.foldables.delete(x.name);
  return true;
}

/** ChannelScale (face-api.js's folded batch norm): y = x * weights + biases per channel; folded like a BatchNormalization. */
function channelScale(ctx: LayerContext): string {
  const { g, layer } = ctx;
  const x = ctx.inputs[0];
  const w = layerWeights(layer);
  const scale = Float64Array.from(w.weights.data);
  const shift = Float64Array.from(w.biases.data);
  if (tryFold(ctx, scale, shift)) return x.name;
  // Broadcast over NCHW (rank 4) or [N, C].
  const dims = x.shape.length === 4 ? [1, scale.length, 1, 1] : [scale.length];
  const mul = g.node('Mul', layer.name, [x.name, g.floats(`${layer.name}/weights`, dims, w.weights.data).name]).output[0];
  return g.node('Add', layer.name, [mul, g.floats(`${layer.name}/biases`, dims, w.biases.data).name]).output[0];
}

/** Scales the producer's output channels and adds the shift: BN(conv(x)) as one conv. */
function foldInto(g: GraphBuilder, p: Foldable, scale: Float64Array, shift: Float64Array, bnName: string): void {
  const per = p.weightData.length / p.outChannels;
  if (p.layout === 'OIHW') {
    for (let o = 0; o < p.outChannels; o++) for (let k = 0; k < per; k++) p.weightData[o * per + k] *= scale[o];
  } else {
    for (let i = 0; i < per; i++) for (let o = 0; o < p.outChannels; o++) p.weightData[i * p.outChannels + o] *= scale[o];
  }
  p.weight.rawData = float32Bytes(p.weightData);
  const bias = new Float32Array(p.outChannels);
  for (let o = 0; o < p.outChannels; o++) bias[o] = (p.bias ? p.bias.data[o] : 0) * scale[o] + shift[o];
  if (p.bias) {
    p.bias.tensor.rawData = float32Bytes(bias);
    p.bias.data = bias;
  } else {
    const t = g.floats(`${bnName}/folded_bias`, [p.outChannels], bias);
    p.node.input.push(t.name);
    p.bias = { tensor: t, data: bias };
  }
}

export function hwioToOihw(src: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const dst = new Float32Array(src.length);
  for (let h = 0; h < kh; h++)
    for (let w = 0; w < kw; w++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++) dst[((o * cin + i) * kh + h) * kw + w] = src[((h * kw + w) * cin + i) * cout + o];
  return dst;
}

function asPair(v: unknown): [number, number] {
  if (typeof v === 'number') return [v, v];
  const a = v as number[];
  return [a[0], a.length > 1 ? a[1] : a[0]];
}

function isLinear(act: unknown): boolean {
  return act === undefined || act === null || act === 'linear';
}

function activation(ctx: LayerContext, input: string, act: unknown): string {
  const { g, layer } = ctx;
  const name = String(act ?? 'linear');
  switch (name) {
    case 'linear':
      return input;
    case 'relu':
      return g.node('Relu', layer.name, [input]).output[0];
    case 'relu6': {
      const lo = g.floats(`${layer.name}/min`, [], Float32Array.of(0));
      const hi = g.floats(`${layer.name}/max`, [], Float32Array.of(6));
      return g.node('Clip', layer.name, [input, lo.name, hi.name]).output[0];
    }
    case 'sigmoid':
      return g.node('Sigmoid', layer.name, [input]).output[0];
    case 'tanh':
      return g.node('Tanh', layer.name, [input]).output[0];
    case 'elu':
      return g.node('Elu', layer.name, [input], [float('alpha', 1)]).output[0];
    case 'softmax':
      if (ctx.outShape.length !== 2) throw badInput(`ONNX export: layer '${layer.name}': softmax only on [N, features]`);
      return g.node('Softmax', layer.name, [input], [int('axis', 1)]).output[0];
    default:
      throw badInput(`ONNX export: layer '${layer.name}': activation '${name}' not supported`);
  }
}
