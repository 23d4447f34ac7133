import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { describe, expect, it } from 'vitest';
import { infraDir, readText } from './support/paths.js';

const dockerfileText = readText(`${infraDir}docker/Dockerfile`);
const dockerfile = DockerfileParser.parse(dockerfileText);

interface Stage {
  name: string;
  base: string;
  instructions: Instruction[];
}

/** The stages of the Dockerfile, with `ARG`s of the global scope substituted in FROM. */
function stages(): Stage[] {
  const args = new Map<string, string>();
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') break;
    const [name, value] = (instruction.getArgumentsContent() ?? '').split('=');
    if (instruction.getKeyword() === 'ARG' && name && value) args.set(name, value);
  }
  const result: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const words = instruction.getArguments().map((argument) => argument.getValue());
      const base = (words[0] ?? '').replace(
        /\$\{(\w+)\}/g,
        (_, name: string) => args.get(name) ?? '',
      );
      result.push({ name: words[2] ?? '', base, instructions: [] });
    } else {
      result.at(-1)?.instructions.push(instruction);
    }
  }
  return result;
}

const byName = (name: string) => {
  const stage = stages().find((candidate) => candidate.name === name);
  if (!stage) throw new Error(`no stage ${name}`);
  return stage;
};
const lines = (stage: Stage, keyword: string) =>
  stage.instructions
    .filter((instruction) => instruction.getKeyword() === keyword)
    .map((i) => i.getTextContent());

describe('infra/docker/Dockerfile (parsed; not built here: no Docker engine)', () => {
  it('parses without syntax problems', () => {
    expect(dockerfile.getInstructions().length).toBeGreaterThan(10);
    expect(dockerfile.getComments().length).toBeGreaterThan(0);
  });

  it('is multi-stage on node:22-bookworm-slim, compiling in a build stage', () => {
    const all = stages();
    expect(all.length).toBeGreaterThanOrEqual(4);
    for (const stage of all)
      expect(['node:22-bookworm-slim', 'sources'], stage.name).toContain(stage.base);
    const build = lines(byName('build'), 'RUN').join('\n');
    expect(build).toMatch(/npm ci /);
    expect(build).toMatch(/npx tsc -b tsconfig\.build\.json/);
  });

  it('installs only production dependencies of the app in each image', () => {
    for (const app of ['gateway', 'worker']) {
      expect(lines(byName(`${app}-files`), 'RUN').join('\n')).toMatch(
        new RegExp(`npm ci --omit=dev --workspace=@callback-gateway/${app}`),
      );
      const copies = lines(byName(app), 'COPY').join('\n');
      expect(copies).toContain(`--from=${app}-files`);
      expect(copies).not.toContain('--from=build');
    }
  });

  it('runs both images as the non-root node user, with a health check on readiness', () => {
    const expected = { gateway: '/readyz/ingest', worker: '/readyz' } as const;
    for (const [app, path] of Object.entries(expected)) {
      const stage = byName(app);
      const keywords = stage.instructions.map((instruction) => instruction.getKeyword());
      expect(lines(stage, 'USER')).toEqual(['USER node']);
      // USER comes before anything that runs in the final image.
      expect(keywords.indexOf('USER')).toBeLessThan(keywords.indexOf('CMD'));
      expect(keywords).not.toContain('RUN');
      const healthcheck = lines(stage, 'HEALTHCHECK').join('\n');
      expect(healthcheck).toContain(`'${path}'`);
      expect(healthcheck).toMatch(/CMD \["node", "-e", "fetch\(/);
      expect(lines(stage, 'CMD')).toEqual([`CMD ["node", "apps/${app}/dist/main.js"]`]);
    }
  });

  it('copies only from stages that exist', () => {
    const names = new Set(stages().map((stage) => stage.name));
    const froms = [...dockerfileText.matchAll(/--from=([\w-]+)/g)].map((match) => match[1] ?? '');
    expect(froms.length).toBeGreaterThan(0);
    for (const from of froms) expect(names.has(from), from).toBe(true);
  });

  it('keeps dependencies, build output, git and secrets out of the build context', () => {
    const ignored = readText(`${infraDir}docker/Dockerfile.dockerignore`)
      .split('\n')
      .filter((line) => line && !line.startsWith('#'));
    expect(ignored).toEqual(
      expect.arrayContaining(['**/node_modules', '**/dist', '.git', '.env', '.local']),
    );
  });
});
