/**
 * The GPU route's pins, read from the scripts (nothing is downloaded): each NVIDIA wheel is pinned with a sha256,
 * one CUDA major per stack (12 for TensorFlow, 13 for ONNX Runtime's provider), the pinned packages match the
 * project's, and bench/gpu-check.sh refuses quickly where there is no GPU.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** The "name==version sha256" entries of a bash array. */
function pinnedWheels(script: string, array: string): Map<string, string> {
  const body = new RegExp(`${array}=\\(\\n([\\s\\S]*?)\\n\\s*\\)`).exec(script)?.[1];
  assert.ok(body, `${array} not found`);
  const pins = new Map<string, string>();
  for (const line of body.split('\n')) {
    const m = /^\s*"([a-z0-9-]+)==([0-9.]+) ([0-9a-f]{64})"$/.exec(line);
    assert.ok(m, `malformed pin: ${line}`);
    pins.set(m[1], m[2]);
  }
  return pins;
}

const scalar = (script: string, name: string) => new RegExp(`${name}="([^"]+)"`).exec(script)?.[1];

test('gpu pins: tfjs-node-gpu on tensorflow with CUDA 12 wheels, one CUDA 12 minor, versions as the project pins', () => {
  const script = read('infra/setup-tfjs-node.sh');
  const gpu = /\n {2}gpu\)\n([\s\S]*?)\n {4};;/.exec(script)?.[1] ?? '';
  assert.match(gpu, /TF_WHEEL="tensorflow"/);
  assert.match(gpu, /TF_WHEEL_SHA256_DEFAULT="[0-9a-f]{64}"/);
  const pins = pinnedWheels(gpu, 'NVIDIA_WHEELS');
  for (const lib of ['cublas', 'cuda-runtime', 'cudnn', 'cufft', 'curand', 'cusolver', 'cusparse', 'nccl', 'nvjitlink']) {
    assert.ok(pins.has(`nvidia-${lib}-cu12`), `nvidia-${lib}-cu12 is pinned`);
  }
  assert.ok([...pins.keys()].every((k) => k.endsWith('-cu12')), 'CUDA 12 wheels only');
  // The CUDA toolkit parts are released together: one 12.x minor.
  const minors = new Set(['cuda-runtime', 'cuda-nvrtc', 'nvjitlink'].map((lib) => pins.get(`nvidia-${lib}-cu12`)?.split('.').slice(0, 2).join('.')));
  assert.equal(minors.size, 1, `one CUDA minor: ${[...minors].join(', ')}`);
  const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; optionalDependencies: Record<string, string> };
  assert.equal(scalar(script, 'TFJS_NODE_VERSION'), pkg.optionalDependencies['@tensorflow/tfjs-node-gpu']);
  assert.equal(scalar(script, 'TFJS_NODE_VERSION'), pkg.dependencies['@tensorflow/tfjs']);
});

test('gpu pins: the ONNX Runtime CUDA provider matches onnxruntime-node and is CUDA 13 throughout', () => {
  const script = read('infra/setup-ort-cuda.sh');
  const pins = pinnedWheels(script, 'ORT_WHEELS');
  const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { version: string }> };
  const ortNode = lock.packages['node_modules/onnxruntime-node'].version;
  assert.equal(scalar(script, 'ORT_VERSION'), ortNode);
  assert.equal(pins.get('onnxruntime-gpu'), ortNode);
  for (const lib of ['nvidia-cuda-runtime', 'nvidia-cuda-nvrtc', 'nvidia-cublas', 'nvidia-nvjitlink']) {
    assert.equal(pins.get(lib)?.split('.')[0], '13', `${lib} is CUDA 13`);
  }
  assert.ok(pins.has('nvidia-cudnn-cu13') && pins.has('nvidia-cufft') && pins.has('nvidia-curand'));
});

test('gpu-check: without nvidia-smi it says there is no GPU and exits 2 at once', { skip: spawnSync('sh', ['-c', 'command -v nvidia-smi']).status === 0 && 'this machine has nvidia-smi' }, () => {
  const r = spawnSync('bash', [path.join(ROOT, 'bench', 'gpu-check.sh')], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' }, timeout: 30_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /no NVIDIA GPU/);
});
