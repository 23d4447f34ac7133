import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const eslint = new ESLint({ cwd: root, ignore: false });

async function ruleIds(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${filePath}` });
  return (result?.messages ?? []).map((message) => message.ruleId ?? message.message);
}

describe('project boundaries', () => {
  beforeAll(() => {
    // The Nx rule reads the cached project graph: make sure it is current.
    const result = spawnSync('npx', ['nx', 'show', 'projects'], { cwd: root, encoding: 'utf8' });
    expect(result.stdout).toContain('@callback-gateway/worker');
  }, 60_000);

  it('fails lint when an app imports another app', async () => {
    const ids = await ruleIds(
      "import { loadWorkerConfig } from '@callback-gateway/worker';\nexport const x = loadWorkerConfig;\n",
      'apps/gateway/src/deliberate-violation.ts',
    );
    expect(ids).toContain('@nx/enforce-module-boundaries');
  });

  it('fails lint when a library imports an app', async () => {
    const ids = await ruleIds(
      "import { buildApp } from '@callback-gateway/gateway';\nexport const x = buildApp;\n",
      'libs/audit/src/deliberate-violation.ts',
    );
    expect(ids).toContain('@nx/enforce-module-boundaries');
  });

  it('fails lint when production code imports a test harness', async () => {
    const ids = await ruleIds(
      "import { startRedis } from '@callback-gateway/testing';\nexport const x = startRedis;\n",
      'libs/audit/src/deliberate-violation.ts',
    );
    expect(ids).toContain('no-restricted-imports');
  });

  it('allows a test tool to start an app in-process through its package entry', async () => {
    const ids = await ruleIds(
      "import { startGateway } from '@callback-gateway/gateway';\nexport const x = startGateway;\n",
      'tools/chaos/src/allowed-import.ts',
    );
    expect(ids).not.toContain('@nx/enforce-module-boundaries');
  });

  it('allows an app to import a library', async () => {
    const ids = await ruleIds(
      "import { redact } from '@callback-gateway/audit';\nexport const x = redact;\n",
      'apps/gateway/src/allowed-import.ts',
    );
    expect(ids).not.toContain('@nx/enforce-module-boundaries');
  });

  it('fails lint on a circular import', async () => {
    const [result] = await eslint.lintFiles([`${root}tools/workspace/fixtures/cycle/a.ts`]);
    expect(result?.messages.map((message) => message.ruleId)).toContain('import-x/no-cycle');
  });
});
