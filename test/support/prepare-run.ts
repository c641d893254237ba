/**
 * Run once by scripts/test.sh before the integration tests: starts a private stack on free ports
 * (never colliding with a developer's running stack) and bundles the workflows once.
 *   node dist/test/support/prepare-run.js up <dataDir>   -> prints the data dir
 *   node dist/test/support/prepare-run.js down <dataDir>
 */
import * as fs from 'node:fs';
import { privateStackOptions, stackDown, stackUp, stackOptionsFromEnv } from '../../infra/local-stack';
import { bundleWorkflows } from '../../workers/worker-options';
import { PREBUILT_BUNDLE } from './stack';

async function main() {
  const [cmd, dataDir] = process.argv.slice(2);
  if (!dataDir) throw new Error('usage: prepare-run up|down <dataDir>');
  if (cmd === 'up') {
    fs.mkdirSync(dataDir, { recursive: true });
    const o = await privateStackOptions(dataDir);
    const info = await stackUp(o);
    const bundle = await bundleWorkflows();
    fs.writeFileSync(PREBUILT_BUNDLE, bundle.code);
    console.log(`test stack: Temporal ${info.temporal.address} (UI ${info.temporal.uiUrl}), MinIO ${info.minio.endpoint}, data ${dataDir}`);
  } else if (cmd === 'down') {
    await stackDown(stackOptionsFromEnv({ SIAMFACE_DATA_DIR: dataDir }));
  } else {
    throw new Error(`unknown command ${cmd}`);
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`prepare-run: ${err.message}`);
    process.exit(1);
  },
);
