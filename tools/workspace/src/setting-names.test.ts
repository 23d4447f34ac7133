import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gatewaySettingsSchema } from '@callback-gateway/gateway';
import { notifyEnvShape } from '@callback-gateway/notify';
import { SETTING_NAMES, commonSettingsShape } from '@callback-gateway/runtime';
import { webhookUrlEnvSchema } from '@callback-gateway/webhook-url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** The libraries' shapes an app schema may be built from, by the name the apps import them as. */
const shapes: Readonly<Record<string, readonly string[]>> = {
  webhookUrlEnvSchema: Object.keys(webhookUrlEnvSchema.shape),
  commonSettingsShape: Object.keys(commonSettingsShape),
  notifyEnvShape: Object.keys(notifyEnvShape),
};

/**
 * The setting names a schema expression defines: `base.extend({...})`, `z.object({...})`, object
 * literals and spreads of the {@link shapes}. Anything else throws, so that a schema written
 * another way fails the test instead of hiding settings from it.
 */
function namesIn(node: ts.Expression, file: ts.SourceFile): string[] {
  if (ts.isIdentifier(node) && shapes[node.text]) return [...(shapes[node.text] ?? [])];
  if (ts.isObjectLiteralExpression(node)) {
    return node.properties.flatMap((property) => {
      if (ts.isSpreadAssignment(property)) return namesIn(property.expression, file);
      if (ts.isPropertyAssignment(property) && !ts.isComputedPropertyName(property.name)) {
        return [property.name.text];
      }
      throw new Error(`cannot read the setting ${property.getText(file)}`);
    });
  }
  if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
    // `base.extend({...})`, or `z.object({...})`.
    const { expression: base, name } = node.expression;
    const fromBase = name.text === 'extend' ? namesIn(base, file) : [];
    if (name.text === 'extend' || base.getText(file) === 'z.object') {
      return [...fromBase, ...node.arguments.flatMap((argument) => namesIn(argument, file))];
    }
  }
  throw new Error(`cannot read the settings of ${node.getText(file).slice(0, 80)}`);
}

/**
 * The names an app's settings schema accepts, read from its source: the worker has no package
 * entry (its `main.ts` starts the process), and a test tool does not reach into an app's files.
 */
function settingsSchemaNames(path: string, schemaName: string): string[] {
  const file = ts.createSourceFile(
    path,
    readFileSync(`${root}${path}`, 'utf8'),
    ts.ScriptTarget.ES2023,
  );
  for (const statement of file.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const declaration of statement.declarationList.declarations) {
      if (ts.isIdentifier(declaration.name) && declaration.name.text === schemaName) {
        if (!declaration.initializer) break;
        return namesIn(declaration.initializer, file);
      }
    }
  }
  throw new Error(`${path} does not define ${schemaName}`);
}

const sorted = (names: Iterable<string>) => [...new Set(names)].sort();

describe('SETTING_NAMES', () => {
  it('reads an app schema from its source as the app itself builds it', () => {
    expect(
      sorted(settingsSchemaNames('apps/gateway/src/config.ts', 'gatewaySettingsSchema')),
    ).toEqual(sorted(Object.keys(gatewaySettingsSchema.shape)));
  });

  it('lists every setting a schema accepts, once, and nothing else', () => {
    const accepted = [
      ...Object.keys(gatewaySettingsSchema.shape),
      ...settingsSchemaNames('apps/worker/src/config.ts', 'workerSettingsSchema'),
      // The webhook-url CLI reads these without either app.
      ...Object.keys(webhookUrlEnvSchema.shape),
    ];
    expect(new Set(SETTING_NAMES).size).toBe(SETTING_NAMES.length);
    expect(sorted(SETTING_NAMES)).toEqual(sorted(accepted));
  });
});
