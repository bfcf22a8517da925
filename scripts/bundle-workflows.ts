import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../runtime/codec';

/**
 * `npm run build:workflows [file]`: the workflow bundle, built ahead (the image does it) so that a
 * worker started with WORKFLOW_BUNDLE_PATH loads it instead of running webpack at every start,
 * which costs seconds and leaves well over a hundred MB of its garbage in the worker's RSS.
 */
async function main() {
  const file = path.resolve(process.argv[2] ?? 'dist/workflow-bundle.js');
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), failureConverterPath: FAILURE_CONVERTER_PATH });
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, code);
  console.log(`workflow bundle: ${file} (${Math.round(code.length / 1024)} KB)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
