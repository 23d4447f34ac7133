import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** A file the dashboard serves. */
export interface DashboardAsset {
  type: string;
  body: Buffer;
}

// The page's own files: apps/gateway/assets/dashboard, two levels up from src/ and dist/ alike.
const ASSETS = new URL('../../assets/dashboard/', import.meta.url);
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
};
const typeOf = (name: string) => TYPES[name.split('.').at(-1) ?? ''] ?? 'application/octet-stream';

/** The page's files, and uPlot's (its npm package: nothing is fetched at run time). */
const FILES: Record<string, () => string> = {
  'dashboard.css': () => fileURLToPath(new URL('dashboard.css', ASSETS)),
  'dashboard.js': () => fileURLToPath(new URL('dashboard.js', ASSETS)),
  'uPlot.min.css': () => createRequire(import.meta.url).resolve('uplot/dist/uPlot.min.css'),
  'uPlot.iife.min.js': () => createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'),
};

/** Reads the dashboard's files once, at start (a missing one fails the start, not a request). */
export async function loadDashboardAssets(): Promise<{
  page: DashboardAsset;
  files: ReadonlyMap<string, DashboardAsset>;
}> {
  const files = new Map<string, DashboardAsset>();
  for (const [name, path] of Object.entries(FILES)) {
    files.set(name, { type: typeOf(name), body: await readFile(path()) });
  }
  const page = {
    type: typeOf('index.html'),
    body: await readFile(fileURLToPath(new URL('index.html', ASSETS))),
  };
  return { page, files };
}
