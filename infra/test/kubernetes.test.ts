import { readdirSync } from 'node:fs';
import type { Model } from '@kubernetes-models/base';
import { Namespace, Secret, Service, ConfigMap } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { describe, expect, it } from 'vitest';
import { documentedSettings, infraDir, readYaml, readYamlDocuments } from './support/paths.js';

/**
 * The manifests are validated offline with the JSON schemas that the npm package
 * kubernetes-models bundles (compiled validators of the Kubernetes OpenAPI definitions):
 * types, required fields, enums and formats. Unknown fields are not refused by those schemas;
 * the fields that matter are asserted one by one below.
 */
const MODELS: Record<string, new (data: never) => Model<unknown>> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/Ingress': Ingress,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

interface Container {
  name: string;
  ports?: { name: string; containerPort: number }[];
  env?: { name: string; value?: string }[];
  readinessProbe?: { httpGet?: { path: string; port: string } };
  livenessProbe?: { httpGet?: { path: string; port: string } };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean };
}

interface DeploymentSpec {
  selector: { matchLabels: Record<string, string> };
  template: {
    metadata: { labels: Record<string, string> };
    spec: {
      securityContext?: { runAsNonRoot?: boolean };
      terminationGracePeriodSeconds?: number;
      containers: Container[];
    };
  };
}

const k8sDir = `${infraDir}k8s/`;
const manifestFiles = readdirSync(k8sDir).filter(
  (file) => file.endsWith('.yaml') && file !== 'kustomization.yaml',
);
const manifests = manifestFiles.flatMap((file) =>
  readYamlDocuments(`${k8sDir}${file}`).map((document) => ({
    file,
    manifest: document as Manifest,
  })),
);
const find = (kind: string, name: string) => {
  const found = manifests.find(
    ({ manifest }) => manifest.kind === kind && manifest.metadata.name === name,
  );
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found.manifest;
};
const container = (name: string) => {
  const spec = find('Deployment', name).spec as unknown as DeploymentSpec;
  const first = spec.template.spec.containers[0];
  if (!first) throw new Error(`${name} has no container`);
  return { spec, container: first };
};

describe('Kubernetes manifests (infra/k8s)', () => {
  it('validate against the bundled Kubernetes schemas', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(10);
    for (const { file, manifest } of manifests) {
      const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
      expect(Model, `${file}: no schema for ${manifest.apiVersion} ${manifest.kind}`).toBeDefined();
      if (!Model) continue;
      expect(
        () => new Model(manifest as never).validate(),
        `${file}: ${manifest.kind} ${manifest.metadata.name}`,
      ).not.toThrow();
    }
  });

  it('are caught by that validation when a field has the wrong type', () => {
    const broken = structuredClone(find('Deployment', 'cbgw-gateway')) as unknown as {
      spec: DeploymentSpec;
    };
    (broken.spec.template.spec.containers[0] as unknown as { ports: unknown }).ports = [
      { containerPort: 'http' },
    ];
    expect(() => new Deployment(broken as never).validate()).toThrow(/containerPort/);
  });

  it('are all listed in kustomization.yaml, except the example secret', () => {
    const kustomization = readYaml(`${k8sDir}kustomization.yaml`) as { resources: string[] };
    expect([...kustomization.resources].sort()).toEqual(
      manifestFiles.filter((file) => file !== 'secret.example.yaml').sort(),
    );
  });

  it('probe the gateway on /readyz/ingest (ready) and /healthz (live), and autoscale it', () => {
    const { container: gateway } = container('cbgw-gateway');
    expect(gateway.readinessProbe?.httpGet).toEqual({ path: '/readyz/ingest', port: 'http' });
    expect(gateway.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(gateway.ports).toContainEqual({ name: 'http', containerPort: 8080, protocol: 'TCP' });
    const hpa = find('HorizontalPodAutoscaler', 'cbgw-gateway').spec as {
      scaleTargetRef: { kind: string; name: string };
      minReplicas: number;
      maxReplicas: number;
    };
    expect(hpa.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'cbgw-gateway' });
    expect(hpa.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.maxReplicas).toBeGreaterThan(hpa.minReplicas);
  });

  it('probe the worker on /readyz (ready) and /healthz (live)', () => {
    const { container: worker } = container('cbgw-worker');
    expect(worker.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(worker.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(worker.ports).toContainEqual({ name: 'http', containerPort: 8081, protocol: 'TCP' });
  });

  it('run both as non-root with a read-only root file system, listening on all interfaces', () => {
    for (const name of ['cbgw-gateway', 'cbgw-worker']) {
      const { spec, container: app } = container(name);
      expect(spec.template.spec.securityContext?.runAsNonRoot, name).toBe(true);
      expect(app.securityContext, name).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
      });
      expect(app.env?.map((variable) => variable.value)).toContain('0.0.0.0');
      // Longer than SHUTDOWN_DEADLINE_MS, so a drain is never cut short.
      const config = find('ConfigMap', 'callback-gateway').data ?? {};
      expect((spec.template.spec.terminationGracePeriodSeconds ?? 30) * 1000).toBeGreaterThan(
        Number(config['SHUTDOWN_DEADLINE_MS'] ?? 10_000),
      );
    }
  });

  it('select their pods: services, budgets and deployments agree on labels', () => {
    for (const name of ['cbgw-gateway', 'cbgw-worker']) {
      const { spec } = container(name);
      const service = find('Service', name).spec as { selector: Record<string, string> };
      const budget = find('PodDisruptionBudget', name).spec as {
        selector: { matchLabels: Record<string, string> };
      };
      expect(spec.template.metadata.labels).toMatchObject(spec.selector.matchLabels);
      expect(spec.template.metadata.labels).toMatchObject(service.selector);
      expect(spec.template.metadata.labels).toMatchObject(budget.selector.matchLabels);
    }
  });

  it('set only documented settings', () => {
    const documented = documentedSettings();
    const config = find('ConfigMap', 'callback-gateway').data ?? {};
    const secret = find('Secret', 'callback-gateway').stringData ?? {};
    const env = ['cbgw-gateway', 'cbgw-worker'].flatMap(
      (name) => container(name).container.env ?? [],
    );
    for (const variable of [
      ...Object.keys(config),
      ...Object.keys(secret),
      ...env.map((e) => e.name),
    ]) {
      expect(documented.has(variable), `${variable} is not in the README`).toBe(true);
    }
  });
});
