import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { log, onCleanup } from './util.mjs';

/**
 * Where a scenario's `--profile` writes its `.cpuprofile` files: `<--profile-dir>/<name>`, kept
 * for DevTools, or a temporary directory removed at the end. Only the profiles a previous run
 * left there are removed (they would be summarised again); nothing else in it is touched.
 */
export async function profileDirectory(settings, name) {
  if (!settings.profileDir) {
    const dir = await mkdtemp(join(tmpdir(), 'cbg-prof-'));
    onCleanup(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }
  const dir = join(settings.profileDir, name);
  await mkdir(dir, { recursive: true });
  for (const file of (await readdir(dir)).filter((entry) => entry.endsWith('.cpuprofile'))) {
    await rm(join(dir, file));
  }
  log(`${name}: CPU profiles kept in ${dir} (open them in Chrome DevTools, Performance tab)`);
  return dir;
}

/** Where a function lives, in short: a package, a project of this repo, or Node itself. */
function area(url) {
  if (!url) return '(native / V8)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const own = /\/(apps|libs)\/([^/]+)\//.exec(url);
  if (own) return `${own[1]}/${own[2]}`;
  if (url.startsWith('node:')) return 'node (core)';
  return url;
}

function shortUrl(url) {
  const own = /\/((?:apps|libs)\/.*|node_modules\/.*)$/.exec(url);
  return own ? own[1].replace(/^.*node_modules\//, '') : url;
}

/**
 * Self time per function and per area from the `.cpuprofile` files in `dir` (written by
 * `node --cpu-prof`): the sampled time in which the function itself was on top of the stack.
 */
export async function summarizeProfiles(dir, top = 20) {
  const files = (await readdir(dir)).filter((name) => name.endsWith('.cpuprofile'));
  const byFunction = new Map();
  const byArea = new Map();
  const byCaller = new Map();
  const ownInclusive = new Map();
  let total = 0;
  let idle = 0;
  for (const file of files) {
    const profile = JSON.parse(await readFile(join(dir, file), 'utf8'));
    const nodes = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
    const parents = new Map();
    for (const node of profile.nodes)
      for (const child of node.children ?? []) parents.set(child, node.id);
    // Node core and native time is charged to the nearest package or project frame that
    // called it (writeUtf8String under ioredis counts for ioredis).
    const owner = (id) => {
      for (let at = id; at !== undefined; at = parents.get(at)) {
        const url = nodes.get(at)?.url ?? '';
        if (/node_modules\/|\/(apps|libs)\//.test(url)) return area(url);
      }
      return undefined;
    };
    // Inclusive time of this repo's own functions: each counted once per sample it is on.
    const ownStack = (id) => {
      const names = new Set();
      for (let at = id; at !== undefined; at = parents.get(at)) {
        const frame = nodes.get(at);
        if (frame && /\/(apps|libs)\//.test(frame.url)) {
          names.add(
            `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`,
          );
        }
      }
      return names;
    };
    profile.samples.forEach((id, index) => {
      const frame = nodes.get(id);
      const micros = profile.timeDeltas[index] ?? 0;
      if (!frame || frame.functionName === '(idle)') {
        idle += micros;
        return;
      }
      total += micros;
      const name = frame.functionName || '(anonymous)';
      const key = frame.url ? `${name} ${shortUrl(frame.url)}:${frame.lineNumber + 1}` : name;
      byFunction.set(key, (byFunction.get(key) ?? 0) + micros);
      const where = frame.url ? area(frame.url) : name;
      byArea.set(where, (byArea.get(where) ?? 0) + micros);
      const charged = owner(id) ?? where;
      byCaller.set(charged, (byCaller.get(charged) ?? 0) + micros);
      for (const name of ownStack(id))
        ownInclusive.set(name, (ownInclusive.get(name) ?? 0) + micros);
    });
  }
  const rank = (map) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, micros]) => ({
        name,
        ms: Math.round(micros / 1000),
        share: Number(((100 * micros) / total).toFixed(1)),
      }));
  return {
    files: files.length,
    busyMs: Math.round(total / 1000),
    idleMs: Math.round(idle / 1000),
    functions: rank(byFunction),
    areas: rank(byArea),
    areasWithCallees: rank(byCaller),
    ownInclusive: rank(ownInclusive),
  };
}
