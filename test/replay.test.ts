import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { EncryptionCodec, encryptedDataConverter, parsePayloadKeys } from '../runtime/codec';
import { FIXTURE_PAYLOAD_KEYS } from './fixtures/keys';
import { readInfra } from './support/infra';

const DIR = path.join(__dirname, 'fixtures', 'histories');
const fixtures = readdirSync(DIR).filter((f) => f.endsWith('.history.pb')).sort();

/**
 * Histories recorded from earlier versions of the PaymentWorkflow (`npm run record-histories`)
 * must replay on the current code: a non-deterministic change would break running payments.
 */
async function replayFailures(code: { workflowBundle: { codePath: string } } | { workflowsPath: string }): Promise<string[]> {
  const results = Worker.runReplayHistories(
    { ...code, dataConverter: encryptedDataConverter(new EncryptionCodec(parsePayloadKeys(FIXTURE_PAYLOAD_KEYS))) },
    fixtures.map((file) => ({ workflowId: file, history: temporal.api.history.v1.History.decode(readFileSync(path.join(DIR, file))) })),
  );
  const failures: string[] = [];
  for await (const result of results) if (result.error) failures.push(`${result.workflowId}: ${result.error.name}`);
  return failures;
}

test('recorded payment histories replay on the current workflow code', async () => {
  expect(fixtures.length).toBeGreaterThanOrEqual(8);
  expect(await replayFailures({ workflowBundle: { codePath: readInfra().workflowBundlePath } })).toEqual([]);
});

test('a workflow changed without patched() fails the replay', async () => {
  const failures = await replayFailures({ workflowsPath: require.resolve('./fixtures/changed-workflow') });
  expect(failures).toHaveLength(fixtures.length);
  expect(failures.every((f) => f.endsWith('DeterminismViolationError'))).toBe(true);
});
