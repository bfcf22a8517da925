import { readFileSync } from 'node:fs';
// Aggregates a .cpuprofile: self time by function and by package/file, and inclusive by selected frames.
type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[]; hitCount?: number };
const prof = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
prof.samples.forEach((s, i) => self.set(s, (self.get(s) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const pkg = (url: string) => {
  const m = url.match(/node_modules\/(@[^/]+\/[^/]+|[^/]+)/);
  if (m) return m[1]!;
  if (url.startsWith('node:')) return url;
  if (url.includes('/work/')) return url.replace(/.*\/work\/[^/]+\//, '');
  return url || '(native)';
};
const agg = (key: (n: Node) => string) => {
  const m = new Map<string, number>();
  for (const [id, t] of self) { const k = key(byId.get(id)!); m.set(k, (m.get(k) ?? 0) + t); }
  return [...m].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[3] ?? 30));
};
console.log('total ms', (total / 1000).toFixed(0));
console.log('--- by package/file (self)');
for (const [k, t] of agg((n) => pkg(n.callFrame.url))) console.log((100 * t / total).toFixed(1).padStart(5), k);
console.log('--- by function (self)');
for (const [k, t] of agg((n) => `${n.callFrame.functionName || '(anon)'} ${pkg(n.callFrame.url)}:${n.callFrame.lineNumber}`)) console.log((100 * t / total).toFixed(1).padStart(5), k);
// inclusive time of frames from our code (first frame of ours in stack)
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const incl = new Map<string, number>();
for (const [id, t] of self) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const n = byId.get(cur)!; const u = n.callFrame.url;
    if (u.includes('/work/') && !u.includes('node_modules')) { const k = `${n.callFrame.functionName || '(anon)'} ${pkg(u)}:${n.callFrame.lineNumber}`; if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) ?? 0) + t); } }
  }
}
console.log('--- our frames (inclusive)');
for (const [k, t] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log((100 * t / total).toFixed(1).padStart(5), k);
