/**
 * Converts a TensorFlow.js graph model (model.json topology plus its weights) into ONNX, for the small set of ops
 * convolutional detectors such as BlazeFace use, so that ONNX Runtime runs them: on tfjs-node BlazeFace's 37 small
 * convolutions cost ~48 ms an image. tf2onnx does this in Python; no JavaScript library does, hence this file.
 *
 * Rank-4 values are NCHW inside the graph (one Transpose after the NHWC input); a Reshape reads NHWC order, so its
 * input is transposed back first. An op outside the list is refused by name, never approximated.
 */
import * as tf from '@tensorflow/tfjs';
import { badInput } from '../errors';
import { encodeModel, OnnxDataType, type OnnxModel, type OnnxValueInfo } from './onnx-proto';
import { GraphBuilder, hwioToOihw, int, ints, irVersionFor, str, valueInfo } from './onnx-export';

const OPSET = 13;

/** A node of a tfjs graph model's topology (TensorFlow's NodeDef as JSON). */
export interface GraphNodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { s?: string; i?: string; f?: number; list?: { s?: string[]; i?: string[] } }>;
}

interface Value {
  name: string;
  /** 'nchw': a rank-4 feature map transposed for ONNX; 'plain': as in TensorFlow. */
  layout: 'nchw' | 'plain';
}

const text = (b64: string | undefined) => (b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8'));
const intList = (node: GraphNodeDef, key: string) => (node.attr?.[key]?.list?.i ?? []).map(Number);

/**
 * @param nodes the topology's nodes (model.json `modelTopology.node`)
 * @param weights the loaded model's weights (`tf.GraphModel.weights`): one tensor per Const node
 * @param inputShape the NHWC shape of the single input, batch included (e.g. [1, 256, 256, 3])
 */
export function graphModelToOnnx(nodes: GraphNodeDef[], weights: Record<string, tf.Tensor[]>, inputShape: number[], modelName: string): Uint8Array {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const source = (ref: string) => ref.replace(/:0$/, '');
  const consumed = new Set(nodes.flatMap((n) => (n.input ?? []).filter((i) => !i.startsWith('^')).map(source)));
  const outputs = nodes.filter((n) => n.op !== 'Const' && !consumed.has(n.name));
  const placeholders = nodes.filter((n) => n.op === 'Placeholder');
  if (placeholders.length !== 1) throw badInput(`${modelName}: expected one input, found ${placeholders.length}`);

  const g = new GraphBuilder();
  const values = new Map<string, Value>();
  const inputName = g.unique('input');
  values.set(placeholders[0].name, { name: g.node('Transpose', 'input_to_nchw', [inputName], [ints('perm', [0, 3, 1, 2])]).output[0], layout: 'nchw' });

  const constant = (name: string): tf.Tensor => {
    const t = weights[name]?.[0];
    if (!t) throw badInput(`${modelName}: no weights for constant '${name}'`);
    return t;
  };
  const plain = (v: Value, base: string) => (v.layout === 'nchw' ? g.node('Transpose', `${base}/to_nhwc`, [v.name], [ints('perm', [0, 2, 3, 1])]).output[0] : v.name);

  const convert = (node: GraphNodeDef): Value => {
    const known = values.get(node.name);
    if (known) return known;
    const inputs = (node.input ?? []).filter((i) => !i.startsWith('^')).map(source);
    const from = (k: number) => convert(byName.get(inputs[k]) ?? missing(inputs[k]));
    const padding = text(node.attr?.padding?.s);
    const autoPad = () => {
      if (padding === 'SAME') return str('auto_pad', 'SAME_UPPER');
      if (padding === 'VALID') return str('auto_pad', 'VALID');
      throw badInput(`${modelName}: ${node.op} '${node.name}' has padding ${padding}; only SAME and VALID are supported`);
    };
    const strides = () => intList(node, 'strides').slice(1, 3);
    const dilations = () => {
      const d = intList(node, 'dilations');
      return d.length ? d.slice(1, 3) : [1, 1];
    };
    let out: Value;
    switch (node.op) {
      case 'Const':
        throw badInput(`${modelName}: constant '${node.name}' used as a feature map`);
      case '_FusedConv2D':
      case 'DepthwiseConv2dNative': {
        const x = from(0);
        if (x.layout !== 'nchw') throw badInput(`${modelName}: ${node.op} '${node.name}' reads a non-image value`);
        const filter = constant(inputs[1]);
        const [kh, kw, cin, cout] = filter.shape;
        const data = filter.dataSync() as Float32Array;
        let w: Float32Array;
        let group = 1;
        let outChannels = cout;
        if (node.op === 'DepthwiseConv2dNative') {
          // [kh, kw, cin, multiplier] -> [cin * multiplier, 1, kh, kw], one group per input channel.
          outChannels = cin * cout;
          group = cin;
          w = new Float32Array(data.length);
          for (let h = 0; h < kh; h++) for (let ww = 0; ww < kw; ww++) for (let c = 0; c < cin; c++) for (let m = 0; m < cout; m++) w[((c * cout + m) * kh + h) * kw + ww] = data[((h * kw + ww) * cin + c) * cout + m];
        } else {
          w = hwioToOihw(data, kh, kw, cin, cout);
        }
        const fused = (node.attr?.fused_ops?.list?.s ?? []).map((s) => text(s)!);
        if (node.op === '_FusedConv2D' && !(fused[0] === 'BiasAdd' && (fused.length === 1 || (fused.length === 2 && fused[1] === 'Relu')))) {
          throw badInput(`${modelName}: _FusedConv2D '${node.name}' fuses ${fused.join('+')}; only BiasAdd and BiasAdd+Relu are supported`);
        }
        const convInputs = [x.name, g.floats(`${node.name}/W`, [outChannels, cin / group, kh, kw], w).name];
        if (fused[0] === 'BiasAdd') convInputs.push(g.floats(`${node.name}/B`, [outChannels], constant(inputs[2]).dataSync() as Float32Array).name);
        const conv = g.node('Conv', node.name, convInputs, [ints('kernel_shape', [kh, kw]), ints('strides', strides()), ints('dilations', dilations()), int('group', group), autoPad()]);
        out = { name: fused[1] === 'Relu' ? g.node('Relu', node.name, [conv.output[0]]).output[0] : conv.output[0], layout: 'nchw' };
        break;
      }
      case 'AddV2':
      case 'Add': {
        const [a, b] = [from(0), from(1)];
        if (a.layout !== b.layout) throw badInput(`${modelName}: ${node.op} '${node.name}' adds values of different layouts`);
        out = { name: g.node('Add', node.name, [a.name, b.name]).output[0], layout: a.layout };
        break;
      }
      case 'Relu': {
        const x = from(0);
        out = { name: g.node('Relu', node.name, [x.name]).output[0], layout: x.layout };
        break;
      }
      case 'MaxPool': {
        const x = from(0);
        out = { name: g.node('MaxPool', node.name, [x.name], [ints('kernel_shape', intList(node, 'ksize').slice(1, 3)), ints('strides', strides()), autoPad()]).output[0], layout: 'nchw' };
        break;
      }
      case 'Pad': {
        const x = from(0);
        const p = Array.from(constant(inputs[1]).dataSync()); // [[before, after] x N, H, W, C]
        const nchw = [0, 3, 1, 2];
        const pads = g.int64s(`${node.name}/pads`, [...nchw.map((d) => p[2 * d]), ...nchw.map((d) => p[2 * d + 1])]);
        out = { name: g.node('Pad', node.name, [x.name, pads.name], [str('mode', 'constant')]).output[0], layout: 'nchw' };
        break;
      }
      case 'Reshape': {
        const x = from(0);
        const shape = g.int64s(`${node.name}/shape`, Array.from(constant(inputs[1]).dataSync()));
        out = { name: g.node('Reshape', node.name, [plain(x, node.name), shape.name]).output[0], layout: 'plain' };
        break;
      }
      case 'Identity':
        out = from(0);
        break;
      default:
        throw badInput(`${modelName}: op ${node.op} ('${node.name}') is not supported by the ONNX conversion`);
    }
    values.set(node.name, out);
    return out;
  };
  const missing = (name: string): never => {
    throw badInput(`${modelName}: node '${name}' is referenced but not defined`);
  };

  const graphOutputs = outputs.map((n, k) => {
    const v = convert(n);
    const name = g.unique(`output_${k}`);
    g.node('Identity', name, [plain(v, name)], [], name);
    // No shape: ONNX Runtime infers it (the consumer reads the shape of what it gets).
    return { name, type: { tensorType: { elemType: OnnxDataType.FLOAT } } } as OnnxValueInfo;
  });
  const model: OnnxModel = {
    irVersion: irVersionFor(OPSET),
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'siamface',
    producerVersion: '1',
    docString: `Converted from the tfjs graph model ${modelName}. Outputs in the order of the graph's output nodes: ${outputs.map((n) => n.name).join(', ')}.`,
    graph: { name: modelName, node: g.nodes, initializer: g.initializers, input: [valueInfo(inputName, inputShape)], output: graphOutputs },
  };
  return encodeModel(model);
}
