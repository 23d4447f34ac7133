import { defineConfig, type ViteUserConfig } from 'vitest/config';

/**
 * One vitest configuration for every project: sources are resolved through the
 * `@callback-gateway/source` export condition (no build needed to test), and each run writes a
 * JSON report (`reports/vitest.json` in the project) that `npm test` adds up into one closing
 * line.
 */
export function projectTestConfig(overrides: ViteUserConfig['test'] = {}) {
  return defineConfig({
    resolve: { conditions: ['@callback-gateway/source'] },
    ssr: { resolve: { conditions: ['@callback-gateway/source'] } },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      environment: 'node',
      testTimeout: 20_000,
      hookTimeout: 30_000,
      reporters: ['default', 'json'],
      outputFile: { json: 'reports/vitest.json' },
      ...overrides,
    },
  });
}
