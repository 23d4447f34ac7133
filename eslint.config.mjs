import nx from '@nx/eslint-plugin';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import prettier from 'eslint-config-prettier';
import js from '@eslint/js';
import globals from 'globals';

/**
 * One linter for the whole tree (formatting is Prettier's job; `eslint-config-prettier` turns off
 * the rules that would fight it). Project boundaries come from the Nx tags in each package.json:
 *   type:app     -> may use type:lib (and type:testing in tests), never another app
 *   type:lib     -> may use type:lib, never an app
 *   type:testing -> test harnesses; may use type:lib
 *   type:tool    -> test projects; may use type:lib and type:testing, and start an app in-process
 *                   through its package entry (the chaos suite injects the ngrok SDK that way)
 */
export default [
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'reports/**',
      '.nx/**',
      'coverage/**',
      '**/*.d.ts',
      // Deliberately broken code that the workspace checks lint on purpose.
      'tools/workspace/fixtures/**',
    ],
  },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    files: ['**/*.ts', '**/*.mjs', '**/*.js'],
    ignores: ['**/assets/**'],
    plugins: { 'import-x': importX },
    settings: {
      // The cycle check parses the modules it follows: teach it TypeScript.
      'import-x/extensions': ['.ts', '.mjs', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [
        // Resolves `./x.js` to `./x.ts` and workspace packages through their source condition,
        // so the cycle check sees the real import graph.
        createTypeScriptImportResolver({
          project: [
            'apps/*/tsconfig.spec.json',
            'libs/*/tsconfig.spec.json',
            'tools/*/tsconfig.spec.json',
            'infra/tsconfig.spec.json',
          ],
          noWarnOnMultipleProjects: true,
          conditionNames: ['@callback-gateway/source', 'types', 'import', 'default'],
        }),
      ],
    },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          banTransitiveDependencies: false,
          checkNestedExternalImports: true,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib', 'type:testing'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib', 'type:testing'] },
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:lib', 'type:testing'] },
            {
              sourceTag: 'type:tool',
              onlyDependOnLibsWithTags: ['type:lib', 'type:testing', 'type:app'],
            },
          ],
        },
      ],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-self-import': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      'no-console': 'error',
    },
  },
  {
    // Test harnesses belong in tests: production code must not import them.
    files: ['**/src/**/*.ts'],
    // tools/ holds test projects (end-to-end, workspace checks): all of it is test code.
    ignores: ['**/*.test.ts', '**/testing/**', '**/testing.ts', 'tools/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@callback-gateway/testing'],
              message: 'Test harnesses are for tests only (*.test.ts).',
            },
          ],
        },
      ],
    },
  },
  {
    // Command-line entry points and scripts talk to a terminal on purpose.
    files: ['scripts/**', '**/src/cli.ts', '**/src/main.ts', 'bench/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // Tool configuration files share the root test preset by relative path.
    files: ['**/vitest.config.ts'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
  {
    // Pages' scripts the gateway serves to browsers (classic scripts, no bundler).
    files: ['**/assets/**/*.js'],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'script',
      globals: { ...globals.browser },
    },
  },
  prettier,
];
