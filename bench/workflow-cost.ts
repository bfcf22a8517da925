import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { promiseHooks } from 'node:v8';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { EncryptionCodec, encryptedDataConverter, parsePayloadKeys } from '../runtime/codec';
import { FIXTURE_PAYLOAD_KEYS } from '../test/fixtures/keys';
import { bundlePaymentWorkflows } from './harness';

/**
 * `npm run bench:workflow`: what the workflow code of one automatically captured card payment
 * costs the worker, per payment type, replayed on the current code from the recorded fixtures
 * (`test/fixtures/histories/<type>-card-automatic-refunded`, cut where the create's update
 * completes). It prints the promises made in workflow code (the SDK captures a stack for each
 * one) and the CPU per replay, the types alternating in one process so that this VM's drift
 * hits them alike. Numbers, never assertions.
 */
const { values: opts } = parseArgs({
  options: { types: { type: 'string' }, runs: { type: 'string', default: '200' }, rounds: { type: 'string', default: '7' } },
});
const DIR = path.join(__dirname, '..', 'test', 'fixtures', 'histories');
const FIXTURE = /^(v\d+)-card-automatic-refunded\.history\.pb$/;
const { History } = temporal.api.history.v1;
const { EventType } = temporal.api.enums.v1;

/** The fixture's events up to the create's answer: the payment captured, its refund window open. */
function capturedPrefix(type: string) {
  const history = History.decode(readFileSync(path.join(DIR, `${type}-card-automatic-refunded.history.pb`)));
  const answered = history.events!.findIndex((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED);
  return History.create({ events: history.events!.slice(0, answered + 1) });
}

async function main() {
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
  const newest = readdirSync(DIR).map((f) => FIXTURE.exec(f)?.[1]).filter((t): t is string => t !== undefined).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  const types = opts.types?.split(',') ?? newest.slice(-2);
  const runs = Number(opts.runs);
  const bundle = await bundlePaymentWorkflows();
  const dataConverter = encryptedDataConverter(new EncryptionCodec(parsePayloadKeys(FIXTURE_PAYLOAD_KEYS)));
  const histories = new Map(types.map((t) => [t, capturedPrefix(t)]));

  // Promises: one replay (a replay runs its workflows in this thread), counting those made in the bundle.
  const promises = new Map<string, number>();
  for (const [type, history] of histories) {
    let n = 0;
    const stop = promiseHooks.onInit(() => {
      if (/workflow-bundle|evalmachine/.test(new Error().stack ?? '')) n++;
    });
    try {
      await Worker.runReplayHistory({ workflowBundle: bundle, dataConverter }, history);
    } finally {
      stop();
    }
    promises.set(type, n);
  }

  // CPU: every thread of this process, per replayed payment, alternating types.
  const replay = async (history: temporal.api.history.v1.IHistory, n: number) => {
    const before = process.cpuUsage();
    const copies = Array.from({ length: n }, (_, i) => ({ workflowId: `payment-${i}`, history }));
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle, dataConverter }, copies)) if (result.error) throw result.error;
    const spent = process.cpuUsage(before);
    return (spent.user + spent.system) / 1000 / n;
  };
  for (const history of histories.values()) await replay(history, 50); // warm-up
  const cpu = new Map<string, number[]>(types.map((t) => [t, []]));
  for (let r = 0; r < Number(opts.rounds); r++) for (const [type, history] of histories) cpu.get(type)!.push(await replay(history, runs));

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`automatically captured card payment, replayed on the current code (${opts.rounds} rounds x ${runs} replays per type):`);
  for (const type of types) {
    const events = histories.get(type)!.events!.length;
    console.log(`  ${type}: ${events} events, ${promises.get(type)} promises in workflow code, ${median(cpu.get(type)!).toFixed(2)} ms CPU per replay (median; ${cpu.get(type)!.map((x) => x.toFixed(1)).join(' ')})`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
