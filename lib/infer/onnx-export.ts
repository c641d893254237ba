/**
 * tfjs LayersModel -> ONNX ModelProto, for fast inference with onnxruntime (6-12x the wasm
 * backend here). Covers the layers our embedding tower uses (see SUPPORTED_LAYERS) and fails
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

export const SUPPORTED_LAYERS = [
  'InputLayer',
  'Conv2D',
  'Dense',
  'BatchNormalization',
  'FreezableBatchNormalization',
  'Activation',
  'ReLU',
  'LeakyReLU',
  'ZeroPadding2D',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'Concatenate',
  'Add',
  'Multiply',
  'Flatten',
  'Dropout',
  'L2Normalize',
] as const;

const MIN_OPSET = 13;
const MAX_OPSET = 17;
/** IR version 7 is the oldest that allows opset 13; 8 is needed from opset 15's era onward. */
const irVersionFor = (opset: number) => (opset >= 15 ? 8 : 7);

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

class GraphBuilder {
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

const ints = (name: string, values: number[]): OnnxAttribute => ({ name, type: OnnxAttributeType.INTS, ints: values });
const int = (name: string, value: number): OnnxAttribute => ({ name, type: OnnxAttributeType.INT, i: value });
const float = (name: string, value: number): OnnxAttribute => ({ name, type: OnnxAttributeType.FLOAT, f: value });
const str = (name: string, value: string): OnnxAttribute => ({ name, type: OnnxAttributeType.STRING, s: Buffer.from(value, 'utf8') });

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

function valueInfo(name: string, shape: Shape): OnnxValueInfo {
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

/** Emits the nodes of one layer application; returns the ONNX name of its output. */
function convertLayer(ctx: LayerContext): string {
  const { g, layer, className, inputs } = ctx;
  const cfg = layer.getConfig() as Record<string, unknown>;
  const x = inputs[0];
  const unsupported = (why: string) => badInput(`ONNX export: layer '${layer.name}' (${className}): ${why}`);
  switch (className) {
    case 'Conv2D':
      return activation(ctx, conv2d(ctx, cfg, unsupported), cfg.activation);
    case 'Dense':
      return activation(ctx, dense(ctx, cfg, unsupported), cfg.activation);
    case 'BatchNormalization':
    case 'FreezableBatchNormalization':
      return batchNorm(ctx, cfg, unsupported);
    case 'Activation':
      return activation(ctx, x.name, cfg.activation);
    case 'ReLU': {
      if (cfg.maxValue === null || cfg.maxValue === undefined) return g.node('Relu', layer.name, [x.name]).output[0];
      const lo = g.floats(`${layer.name}/min`, [], Float32Array.of(0));
      const hi = g.floats(`${layer.name}/max`, [], Float32Array.of(cfg.maxValue as number));
      return g.node('Clip', layer.name, [x.name, lo.name, hi.name]).output[0];
    }
    case 'LeakyReLU':
      return g.node('LeakyRelu', layer.name, [x.name], [float('alpha', (cfg.alpha as number) ?? 0.3)]).output[0];
    case 'ZeroPadding2D': {
      requireChannelsLast(cfg, unsupported);
      const [[top, bottom], [left, right]] = cfg.padding as [[number, number], [number, number]];
      const pads = g.int64s(`${layer.name}/pads`, [0, 0, top, left, 0, 0, bottom, right]);
      return g.node('Pad', layer.name, [x.name, pads.name], [str('mode', 'constant')]).output[0];
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      requireChannelsLast(cfg, unsupported);
      const kernel = cfg.poolSize as [number, number];
      const strides = (cfg.strides as [number, number] | null) ?? kernel;
      const attrs = [ints('kernel_shape', kernel), ints('strides', strides), ints('pads', spatialPads(x.shape, kernel, strides, [1, 1], cfg.padding, unsupported))];
      return g.node(className === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', layer.name, [x.name], attrs).output[0];
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D': {
      requireChannelsLast(cfg, unsupported);
      if (cfg.keepDims) throw unsupported('keepDims is not supported');
      const pooled = g.node(className === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool', layer.name, [x.name]).output[0];
      return g.node('Flatten', layer.name, [pooled], [int('axis', 1)]).output[0];
    }
    case 'Concatenate': {
      const rank = x.shape.length;
      return g.node('Concat', layer.name, inputs.map((v) => v.name), [int('axis', onnxAxis(cfg.axis as number, rank))]).output[0];
    }
    case 'Add':
    case 'Multiply': {
      const op = className === 'Add' ? 'Add' : 'Mul';
      return inputs.slice(1).reduce((acc, v) => g.node(op, layer.name, [acc, v.name]).output[0], x.name);
    }
    case 'Flatten': {
      if (x.shape.length !== 4) return g.node('Flatten', layer.name, [x.name], [int('axis', 1)]).output[0];
      // tfjs flattens NHWC order; go back to NHWC first so a following Dense sees the same vector.
      const nhwc = g.node('Transpose', layer.name, [x.name], [ints('perm', [0, 2, 3, 1])]).output[0];
      return g.node('Flatten', layer.name, [nhwc], [int('axis', 1)]).output[0];
    }
    case 'Dropout':
      return x.name; // identity at inference
    case 'L2Normalize': {
      // x / sqrt(max(sum(x^2, last axis), epsilon)), as lib/model/layers.ts computes it.
      const axis = onnxAxis(-1, x.shape.length);
      const eps = g.floats(`${layer.name}/epsilon`, [], Float32Array.of((cfg.epsilon as number) ?? 1e-12));
      const sq = g.node('ReduceSumSquare', layer.name, [x.name], [ints('axes', [axis]), int('keepdims', 1)]).output[0];
      const floored = g.node('Max', layer.name, [sq, eps.name]).output[0];
      const norm = g.node('Sqrt', layer.name, [floored]).output[0];
      return g.node('Div', layer.name, [x.name, norm]).output[0];
    }
    default:
      throw unsupported(`layer type not supported (supported: ${SUPPORTED_LAYERS.join(', ')})`);
  }
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
  const foldable: Foldable = { node, weight, weightData: kernel, layout: 'OIHW', outChannels: cout };
  if (w.bias) {
    const bias = g.floats(`${layer.name}/bias`, [cout], w.bias.data);
    node.input.push(bias.name);
    foldable.bias = { tensor: bias, data: new Float32Array(w.bias.data) };
  }
  if (isLinear(cfg.activation)) ctx.foldables.set(node.output[0], foldable);
  return node.output[0];
}

function dense(ctx: LayerContext, cfg: Record<string, unknown>, unsupported: (why: string) => Error): string {
  const { g, layer, inputs } = ctx;
  if (inputs[0].shape.length !== 2) throw unsupported(`Dense on a rank-${inputs[0].shape.length} input; only [N, features]`);
  const w = layerWeights(layer);
  if (!w.kernel) throw unsupported('no kernel weight');
  const [cin, cout] = w.kernel.shape;
  const weight = g.floats(`${layer.name}/kernel`, [cin, cout], w.kernel.data);
  const node = g.node('Gemm', layer.name, [inputs[0].name, weight.name]);
  const foldable: Foldable = { node, weight, weightData: new Float32Array(w.kernel.data), layout: 'IO', outChannels: cout };
  if (w.bias) {
    const bias = g.floats(`${layer.name}/bias`, [cout], w.bias.data);
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
  const producer = ctx.foldables.get(x.name);
  const singleConsumer = ctx.consumers.get(ctx.inputIds[0]) === 1;
  if (ctx.foldBatchNorm && producer && singleConsumer && producer.outChannels === channels) {
    foldInto(g, producer, scale, shift, layer.name);
    ctx.foldables.delete(x.name);
    return x.name;
  }
  const inputsOf = (suffix: string, data: ArrayLike<number>) => g.floats(`${layer.name}/${suffix}`, [channels], Float32Array.from(data)).name;
  return g.node(
    'BatchNormalization',
    layer.name,
    [x.name, inputsOf('gamma', gamma), inputsOf('beta', beta), inputsOf('moving_mean', w.moving_mean.data), inputsOf('moving_variance', w.moving_variance.data)],
    [float('epsilon', eps)],
  ).output[0];
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

function hwioToOihw(src: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
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
