/**
 * Attack suite, URLs: what a workflow input's URL can make a worker do, through the one fetch path
 * (lib/storage/open-location.ts) against real loopback servers. Private, loopback and link-local destinations are
 * refused after resolution and before any connection (counted with Node's `net.client.socket` diagnostics channel);
 * every redirect is checked again; at most 3 redirects; Content-Length and a streaming byte cap; an idle timeout;
 * credentials never follow a redirect to another origin; messages carry no URL credentials or signatures.
 * Traffic goes to 127.0.0.1 only.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as diagnostics from 'node:diagnostics_channel';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SiamfaceError } from '../../../lib/errors';
import { loadInputPolicy, type InputPolicy } from '../../../lib/security/input-policy';
import { readLocation } from '../../../lib/storage/open-location';
import type { Resolver } from '../../../lib/security/url-destination';

let sockets = 0;
const onSocket = () => sockets++;
let server: http.Server;
let base: string;
const seen: { url: string; authorization?: string }[] = [];

/** The default policy, plus (where a test needs the loopback server) an explicit exemption for 127.0.0.1 over http. */
const DEFAULT: InputPolicy = loadInputPolicy({});
const LOOPBACK_ALLOWED: InputPolicy = loadInputPolicy({ SIAMFACE_URL_ALLOW_HTTP: 'true', SIAMFACE_URL_ALLOW_PRIVATE: '127.0.0.1/32', SIAMFACE_URL_IDLE_TIMEOUT_MS: '300' });

before(async () => {
  diagnostics.subscribe('net.client.socket', onSocket);
  server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
    const url = req.url ?? '';
    if (url === '/ok') return void res.end('fine');
    if (url === '/to-metadata') return void res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    if (url === '/to-private') return void res.writeHead(302, { location: 'http://10.0.0.5/admin' }).end();
    const hop = /^\/hop\/(\d+)$/.exec(url);
    if (hop) return void res.writeHead(302, { location: Number(hop[1]) > 0 ? `/hop/${Number(hop[1]) - 1}` : '/ok' }).end();
    if (url === '/other-origin') return void res.writeHead(302, { location: `http://localhost:${(server.address() as AddressInfo).port}/ok` }).end();
    if (url === '/huge-declared') return void res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) }).end(Buffer.alloc(10));
    if (url === '/endless') {
      res.writeHead(200); // no Content-Length: only the streaming cap can stop it
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = () => {
        while (res.write(chunk)) if (res.writableLength > 4 * 1024 * 1024) break;
      };
      res.on('drain', pump);
      pump();
      req.on('close', () => res.destroy());
      return;
    }
    if (url === '/trickle') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('x'); // then silence: the idle timeout ends it
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  diagnostics.unsubscribe('net.client.socket', onSocket);
  server.closeAllConnections();
  server.close();
});

const refused = (rule: RegExp, ...patterns: RegExp[]) => (e: unknown) => {
  assert.ok(e instanceof SiamfaceError, String(e));
  assert.equal(e.code, 'forbidden', e.message);
  assert.match(e.message, rule);
  for (const p of patterns) assert.match(e.message, p);
  return true;
};

/** Runs `fn` and returns how many client sockets it opened. */
async function socketsOpenedBy(fn: () => Promise<unknown>): Promise<number> {
  const before = sockets;
  await fn();
  return sockets - before;
}

test('default policy: plain http is refused before any connection, naming the input and the rule', async () => {
  const n = await socketsOpenedBy(() => assert.rejects(readLocation(`${base}/ok`, { policy: DEFAULT, what: 'image' }), refused(/only https URLs are allowed/, /^image http:\/\/127\.0\.0\.1/, /SIAMFACE_URL_ALLOW_HTTP/)));
  assert.equal(n, 0);
});

test('loopback by name and link-local metadata by literal address are refused after resolution, before any socket', async () => {
  const allowHttp = loadInputPolicy({ SIAMFACE_URL_ALLOW_HTTP: 'true' });
  const port = (server.address() as AddressInfo).port;
  const hits = seen.length;
  const n = await socketsOpenedBy(async () => {
    await assert.rejects(readLocation(`http://localhost:${port}/ok`, { policy: allowHttp, what: 'image' }), refused(/localhost resolves to 127\.0\.0\.1, a loopback address/));
    await assert.rejects(readLocation('http://169.254.169.254/latest/meta-data/iam/security-credentials/', { policy: allowHttp, what: 'image' }), refused(/it is 169\.254\.169\.254, a linkLocal address/, /SIAMFACE_URL_ALLOW_PRIVATE/));
    await assert.rejects(readLocation('https://[::ffff:10.0.0.5]/x', { policy: DEFAULT, what: 'image' }), refused(/a private address/));
  });
  assert.equal(n, 0, 'no socket was opened');
  assert.equal(seen.length, hits, 'the loopback server saw nothing');
});

test('a public-looking name that resolves to a private address (injected resolver) is refused before connecting', async () => {
  const resolver: Resolver = async (host) => (host === 'images.example.com' ? [{ address: '93.184.216.34', family: 4 }, { address: '10.1.2.3', family: 4 }] : []);
  const n = await socketsOpenedBy(() => assert.rejects(readLocation('https://images.example.com/face.jpg', { policy: DEFAULT, what: 'image', resolve: resolver }), refused(/images\.example\.com resolves to 10\.1\.2\.3, a private address/)));
  assert.equal(n, 0);
});

test('every redirect is checked again: a redirect to the metadata address or a private address is refused at that hop', async () => {
  const hits = seen.length;
  const n = await socketsOpenedBy(async () => {
    await assert.rejects(readLocation(`${base}/to-metadata`, { policy: LOOPBACK_ALLOWED, what: 'image' }), refused(/^image \(redirected\) http:\/\/169\.254\.169\.254\/latest\/meta-data\/ is refused/, /linkLocal/));
    await assert.rejects(readLocation(`${base}/to-private`, { policy: LOOPBACK_ALLOWED, what: 'image' }), refused(/it is 10\.0\.0\.5, a private address/));
  });
  assert.equal(n, 2, 'one socket each, to the allowed loopback server only');
  assert.deepEqual(seen.slice(hits).map((s) => s.url), ['/to-metadata', '/to-private']);
});

test('at most 3 redirects', async () => {
  assert.equal((await readLocation(`${base}/hop/2`, { policy: LOOPBACK_ALLOWED })).toString(), 'fine', '3 redirects are followed');
  await assert.rejects(readLocation(`${base}/hop/3`, { policy: LOOPBACK_ALLOWED, what: 'dataset archive' }), refused(/more than 3 redirects/, /SIAMFACE_URL_MAX_REDIRECTS/));
});

test('credentials never follow a redirect to another origin', async () => {
  // localhost is another origin than 127.0.0.1 (same server): exempt both for this one test.
  const exempt = loadInputPolicy({ SIAMFACE_URL_ALLOW_HTTP: 'true', SIAMFACE_URL_ALLOW_PRIVATE: '127.0.0.0/8,::1' });
  const hits = seen.length;
  await readLocation(`${base}/other-origin`, { policy: exempt, headers: { authorization: 'Basic c2VjcmV0' } });
  const hops = seen.slice(hits);
  assert.deepEqual(hops.map((h) => h.authorization), ['Basic c2VjcmV0', undefined]);
});

test('size: a declared Content-Length above the cap is refused before reading; an endless body stops at the cap', async () => {
  await assert.rejects(readLocation(`${base}/huge-declared`, { policy: LOOPBACK_ALLOWED, what: 'image', maxBytes: 1024 * 1024 }), (e: unknown) => {
    assert.ok(e instanceof SiamfaceError && e.code === 'bad_input', String(e));
    assert.match(e.message, /is 10485760 bytes, above the 1048576-byte limit/);
    return true;
  });
  await assert.rejects(readLocation(`${base}/endless`, { policy: LOOPBACK_ALLOWED, what: 'image', maxBytes: 2 * 1024 * 1024 }), (e: unknown) => {
    assert.ok(e instanceof SiamfaceError && e.code === 'bad_input', String(e));
    assert.match(e.message, /sent more than the 2097152-byte limit/);
    return true;
  });
});

test('a server that stops sending is cut off by the idle timeout (transient, retried), not waited on forever', async () => {
  await assert.rejects(readLocation(`${base}/trickle`, { policy: LOOPBACK_ALLOWED, what: 'image' }), (e: unknown) => {
    assert.ok(e instanceof SiamfaceError && e.code === 'transient', String(e));
    assert.match(e.message, /no data for 300 ms \(SIAMFACE_URL_IDLE_TIMEOUT_MS\)/);
    return true;
  });
});

test('messages never carry URL credentials or signatures', async () => {
  await assert.rejects(readLocation(`http://alice:pa55w0rd-in-url@127.0.0.1:${(server.address() as AddressInfo).port}/missing?X-Amz-Signature=deadbeefsig`, { policy: LOOPBACK_ALLOWED, what: 'image' }), (e: unknown) => {
    assert.ok(e instanceof SiamfaceError && e.code === 'not_found', String(e));
    assert.doesNotMatch(e.message, /pa55w0rd|deadbeefsig|alice/);
    assert.match(e.message, /\/missing\?<redacted>/);
    return true;
  });
});

test('the Kaggle endpoint is worker configuration: https on kaggle.com, or a loopback test override', () => {
  assert.equal(loadInputPolicy({}).kaggleApiUrl, 'https://www.kaggle.com/api/v1');
  assert.throws(() => loadInputPolicy({ SIAMFACE_KAGGLE_API_URL: 'http://www.kaggle.com/api/v1' }), /SIAMFACE_KAGGLE_API_URL: must be an https URL on kaggle\.com/);
  assert.throws(() => loadInputPolicy({ SIAMFACE_KAGGLE_API_URL: 'https://kaggle.com.evil.example/api/v1' }), /must be an https URL on kaggle\.com/);
  assert.throws(() => loadInputPolicy({ SIAMFACE_TEST_KAGGLE_API_URL: 'http://10.0.0.1:8080/api/v1' }), /SIAMFACE_TEST_KAGGLE_API_URL: is for tests and must point to a loopback address/);
  assert.equal(loadInputPolicy({ SIAMFACE_TEST_KAGGLE_API_URL: `${base}/api/v1` }).kaggleApiUrl, `${base}/api/v1`);
});
