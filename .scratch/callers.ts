import { readFileSync } from 'node:fs';
type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
const prof = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const target = process.argv[3]!; const depth = Number(process.argv[4] ?? 8);
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map<number, number>();
prof.samples.forEach((s, i) => self.set(s, (self.get(s) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const stacks = new Map<string, number>();
let tot = 0;
for (const [id, t] of self) {
  const n = byId.get(id)!; if (n.callFrame.functionName !== target) continue;
  const chain: string[] = [];
  for (let cur = parent.get(id), d = 0; cur !== undefined && d < depth; cur = parent.get(cur), d++) { const f = byId.get(cur)!.callFrame; chain.push(`${f.functionName || '(anon)'}@${f.url.replace(/.*node_modules\//, '').replace(/.*\/work\/main\//, '')}:${f.lineNumber}`); }
  const k = chain.join(' < '); stacks.set(k, (stacks.get(k) ?? 0) + t); tot += t;
}
console.log('total', (tot / 1000).toFixed(0), 'ms');
for (const [k, t] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log((100 * t / tot).toFixed(1).padStart(5), k.slice(0, 400));
