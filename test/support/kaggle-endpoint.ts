/**
 * A loopback stand-in for Kaggle's dataset download, used by the Kaggle tests and bench/celeba-scale:
 *   - the API (`/api/v1/datasets/download/<owner>/<name>`): basic auth (401 without the right key), 403 for
 *     `someone/private-dataset`, 404 for other datasets, and a 302 to a signed storage URL on another origin;
 *   - the storage server: the zip with a strong ETag and byte ranges (If-Range honoured), as Google Cloud Storage
 *     serves it; `breakNextDownloadAfter` cuts the next download off part-way, as a flaky network would.
 * Point the worker at it with SIAMFACE_TEST_KAGGLE_API_URL = `apiBase` (loopback only).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';

export const KAGGLE_DATASET = 'jessicali9530/celeba-dataset';

export interface KaggleEndpoint {
  apiBase: string;
  requests: { api: number; downloads: number; authSeenByStorage: number; ranges: string[] };
  /** Cut the next download off after this many bytes. */
  breakNextDownloadAfter?: number;
  close(): Promise<void>;
}

export async function startKaggleEndpoint(opts: { zipFile: string; user: string; key: string; etag?: string }): Promise<KaggleEndpoint> {
  const etag = opts.etag ?? '"celeba-zip-v1"';
  const endpoint: KaggleEndpoint = {
    apiBase: '',
    requests: { api: 0, downloads: 0, authSeenByStorage: 0, ranges: [] },
    close: async () => undefined,
  };
  const storage = http.createServer((req, res) => {
    if (req.headers.authorization) endpoint.requests.authSeenByStorage++;
    if (!req.url?.startsWith('/celeba.zip?X-Goog-Signature=')) return void res.writeHead(403).end();
    endpoint.requests.downloads++;
    const size = fs.statSync(opts.zipFile).size;
    const asked = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    if (req.headers.range) endpoint.requests.ranges.push(String(req.headers.range));
    const start = asked && req.headers['if-range'] === etag ? Number(asked[1]) : 0;
    const headers = { 'content-type': 'application/zip', etag, 'accept-ranges': 'bytes', 'content-length': size - start };
    if (start > 0) res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${size - 1}/${size}` });
    else res.writeHead(200, headers);
    const body = fs.createReadStream(opts.zipFile, { start });
    const cutAt = endpoint.breakNextDownloadAfter;
    endpoint.breakNextDownloadAfter = undefined;
    if (cutAt === undefined) return void body.pipe(res);
    let sent = 0;
    body.on('data', (chunk) => {
      sent += chunk.length;
      res.write(chunk);
      if (sent >= cutAt) {
        body.destroy();
        res.destroy();
      }
    });
  });
  await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
  const storageUrl = `http://127.0.0.1:${(storage.address() as { port: number }).port}/celeba.zip?X-Goog-Signature=abc`;
  const api = http.createServer((req, res) => {
    endpoint.requests.api++;
    const m = /^\/api\/v1\/datasets\/download\/([^/]+)\/([^/?]+)$/.exec(req.url ?? '');
    const expected = `Basic ${Buffer.from(`${opts.user}:${opts.key}`).toString('base64')}`;
    if (req.headers.authorization !== expected) return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"code":401,"message":"Unauthenticated"}');
    if (!m) return void res.writeHead(404).end();
    const dataset = `${m[1]}/${m[2]}`;
    if (dataset === 'someone/private-dataset') return void res.writeHead(403, { 'content-type': 'application/json' }).end('{"code":403,"message":"Permission denied"}');
    if (dataset !== KAGGLE_DATASET) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":404,"message":"Not found"}');
    res.writeHead(302, { location: storageUrl }).end();
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  endpoint.apiBase = `http://127.0.0.1:${(api.address() as { port: number }).port}/api/v1`;
  endpoint.close = async () => {
    api.closeAllConnections();
    storage.closeAllConnections();
    await Promise.all([new Promise((r) => api.close(r)), new Promise((r) => storage.close(r))]);
  };
  return endpoint;
}
