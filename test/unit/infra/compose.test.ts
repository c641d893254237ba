/**
 * docker-compose.yml's secure defaults, validated by `docker-compose config` (Debian's docker-compose 1.29 validates
 * without a Docker engine; skipped where it is not installed): secrets are required, nothing is published beyond
 * loopback, the UI only with its profile, the workers use the scoped MinIO user and Temporal mTLS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const hasCompose = spawnSync('docker-compose', ['--version']).status === 0;
const SECRETS = { TEMPORAL_DB_PASSWORD: 'db-pass-1234', MINIO_ROOT_USER: 'admin', MINIO_ROOT_PASSWORD: 'root-pass-1234', SIAMFACE_WORKER_S3_ACCESS_KEY: 'worker', SIAMFACE_WORKER_S3_SECRET_KEY: 'worker-pass-1234' };

function config(env: Record<string, string>, ...args: string[]) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !(k in SECRETS)));
  return spawnSync('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), ...args, 'config'], { env: { ...clean, ...env }, encoding: 'utf8' });
}

test('compose: every secret is required; a missing one fails naming it', { skip: !hasCompose && 'docker-compose not installed' }, () => {
  for (const name of Object.keys(SECRETS)) {
    const env: Record<string, string> = { ...SECRETS };
    delete env[name];
    const r = config(env);
    assert.notEqual(r.status, 0, `${name} unset must fail`);
    assert.match(r.stderr, new RegExp(`set ${name}`));
  }
});

test('compose: valid; ports on 127.0.0.1 only; UI behind a profile; workers use the scoped user and mTLS', { skip: !hasCompose && 'docker-compose not installed' }, () => {
  const r = config(SECRETS);
  assert.equal(r.status, 0, r.stderr);
  const ports = [...r.stdout.matchAll(/^\s+- (\S*:\d+:\d+\/tcp)$/gm)].map((m) => m[1]);
  assert.deepEqual(ports.sort(), ['127.0.0.1:7233:7233/tcp', '127.0.0.1:8233:8080/tcp', '127.0.0.1:9000:9000/tcp']);
  assert.match(r.stdout, /temporal-ui:\n(?:\s+.*\n)*?\s+profiles:\n\s+- ui/);
  assert.doesNotMatch(r.stdout, /AWS_SECRET_ACCESS_KEY: root-pass-1234/, 'workers never get the MinIO root password');
  assert.match(r.stdout, /AWS_SECRET_ACCESS_KEY: worker-pass-1234/);
  assert.match(r.stdout, /TEMPORAL_TLS_REQUIRE_CLIENT_AUTH: ["']true["']/);
  assert.match(r.stdout, /TEMPORAL_TLS_CERT: \/certs\/worker.pem/);
  assert.doesNotMatch(r.stdout, /5432:5432|9001:9001/, 'PostgreSQL and the MinIO console are not published');
});
