import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// The check is plain JavaScript outside any project (scripts/): loaded by path, typed here.
const script = fileURLToPath(new URL('../../../scripts/check-commits.mjs', import.meta.url));
interface CheckCommitsModule {
  checkMessage(message: string): string[];
}
const { checkMessage } = (await import(script)) as CheckCommitsModule;

const body = [
  'One slow pipeline held every delivery slot, so callbacks to the other',
  'pipelines waited behind it.',
  '',
  'Verified with the hanging-pipeline chaos scenario.',
].join('\n');
const good = `Worker: cap in-flight deliveries per origin\n\n${body}\n`;

describe('commit message check', () => {
  it('accepts a subject, a blank line and a wrapped body', () => {
    expect(checkMessage(good)).toEqual([]);
  });

  it('accepts a subject of exactly 72 characters and refuses one of 73', () => {
    const subject72 = `Worker: ${'x'.repeat(64)}`;
    expect(subject72).toHaveLength(72);
    expect(checkMessage(`${subject72}\n\n${body}`)).toEqual([]);
    expect(checkMessage(`${subject72}y\n\n${body}`)).toEqual([
      'subject of 73 characters (at most 72)',
    ]);
  });

  it('counts characters, not bytes: a subject with µ and × is measured as it reads', () => {
    const subject = `Bench: 0.30× at 49 µs ${'x'.repeat(50)}`;
    expect([...subject]).toHaveLength(72);
    expect(checkMessage(`${subject}\n\n${body}`)).toEqual([]);
  });

  it('refuses a body that starts on the second line', () => {
    expect(checkMessage(`Worker: cap in-flight deliveries per origin\n${body}`)).toEqual([
      'no blank line after the subject',
    ]);
  });

  it('refuses a message without a body', () => {
    expect(checkMessage('Worker: cap in-flight deliveries per origin\n')).toEqual([
      'no body (say why, the figures and how it was verified)',
    ]);
    expect(checkMessage('Worker: cap in-flight deliveries per origin\n\n\n')).toEqual([
      'no body (say why, the figures and how it was verified)',
    ]);
  });

  it('refuses an empty message', () => {
    expect(checkMessage('')).toEqual([
      'empty subject',
      'no body (say why, the figures and how it was verified)',
    ]);
  });

  it('names the body lines over 72 characters, a bullet continuation included', () => {
    const message = [
      'Worker: cap in-flight deliveries per origin',
      '',
      `${'y'.repeat(72)}`,
      `${'y'.repeat(73)}`,
      `- a bullet`,
      `  ${'z'.repeat(71)}`,
    ].join('\n');
    expect(checkMessage(message)).toEqual(['body lines 4, 6 over 72 characters']);
  });

  it('lets through the lines that cannot be wrapped: a URL, an indented code or table line', () => {
    const message = [
      'Docs: link the Redis Cluster notes',
      '',
      'As described at',
      `https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags-${'a'.repeat(20)}`,
      '',
      `    npm run bench -- e2e --e2e-rates=1000 --e2e-duration=20 --rounds=3 --quick`,
      `\t| ingest | 2048 B, 50 conn: acked/s | 14,026 /s | 46,729 /s (bare Fastify) |`,
    ].join('\n');
    expect(checkMessage(message)).toEqual([]);
  });

  it('reads Windows line ends like Unix ones', () => {
    expect(checkMessage(good.replace(/\n/g, '\r\n'))).toEqual([]);
  });
});

// The whole script against throwaway repositories: the anchor is the commit that added it.
const hasGit = spawnSync('git', ['--version']).status === 0;

// Each git call starts a process: allow for a busy machine.
describe.skipIf(!hasGit)('commit message check on a repository', { timeout: 60_000 }, () => {
  let repo: string;
  const env = {
    ...process.env,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    // Never find a repository above the temporary directory (this one's, when tmpdir is inside it).
    GIT_CEILING_DIRECTORIES: tmpdir(),
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
  };
  const git = (...args: string[]) => {
    const result = spawnSync('git', args, { cwd: repo, env, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`git ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  const commit = async (file: string, message: string) => {
    await writeFile(join(repo, file), `${file}\n`);
    git('add', file);
    git('commit', '-q', '--cleanup=verbatim', '-m', message);
  };
  const check = () => {
    const result = spawnSync(process.execPath, ['scripts/check-commits.mjs'], {
      cwd: repo,
      env,
      encoding: 'utf8',
    });
    return { code: result.status, out: result.stdout.trim() };
  };

  beforeEach(async () => {
    repo = await mkdtemp(join(tmpdir(), 'check-commits-'));
    await mkdir(join(repo, 'scripts'));
    await copyFile(script, join(repo, 'scripts', 'check-commits.mjs'));
  });
  afterEach(async () => {
    await rm(repo, { recursive: true, force: true });
  });

  it('says there is nothing to check outside a git checkout, and passes', () => {
    expect(check()).toEqual({
      code: 0,
      out: 'commits: not a git checkout (or git is missing): nothing to check',
    });
  });

  it('says there is nothing to check before the script is committed, and passes', async () => {
    git('init', '-q');
    await commit(
      'a.txt',
      'a subject far too long to pass, written before the check existed at all',
    );
    expect(check()).toEqual({
      code: 0,
      out: 'commits: scripts/check-commits.mjs is not committed yet: nothing to check',
    });
  });

  it('checks only the commits after the one that added the script', async () => {
    git('init', '-q');
    await commit('a.txt', 'history before the check, with no body and a subject of 80 characters');
    git('add', 'scripts/check-commits.mjs');
    git('commit', '-q', '-m', 'Scripts: check commit messages\n\nThe anchor.');
    const anchor = git('rev-parse', '--short=7', 'HEAD').trim();
    expect(check()).toEqual({
      code: 0,
      out: `commits: 0 checked since ${anchor}, all follow CONTRIBUTING.md`,
    });

    await commit('b.txt', good);
    expect(check()).toEqual({
      code: 0,
      out: `commits: 1 checked since ${anchor}, all follow CONTRIBUTING.md`,
    });

    await commit('c.txt', 'Worker: no body');
    const bad = git('rev-parse', '--short=7', 'HEAD').trim();
    const result = check();
    expect(result.code).toBe(1);
    expect(result.out.split('\n')).toEqual([
      `${bad} no body (say why, the figures and how it was verified): Worker: no body`,
      `commits: 1 of 2 since ${anchor} break CONTRIBUTING.md ("Commit messages"); reword them with git rebase -i ${anchor}`,
    ]);
  });

  it('leaves alone the commits of a branch forked before the script and merged after it', async () => {
    git('init', '-q', '-b', 'main');
    await commit('a.txt', good);
    git('checkout', '-q', '-b', 'older');
    await commit(
      'b.txt',
      'a subject of the old kind, made on a branch that forked before the check',
    );
    git('checkout', '-q', 'main');
    git('add', 'scripts/check-commits.mjs');
    git('commit', '-q', '-m', 'Scripts: check commit messages\n\nThe anchor.');
    const anchor = git('rev-parse', '--short=7', 'HEAD').trim();
    git('merge', '-q', '--no-ff', 'older', '-m', "Merge branch 'older'");
    await commit('c.txt', good);
    expect(check()).toEqual({
      code: 0,
      out: `commits: 1 checked since ${anchor}, all follow CONTRIBUTING.md, 1 merge commit skipped`,
    });
  });

  it('skips merge commits, whose messages git writes', async () => {
    git('init', '-q', '-b', 'main');
    git('add', 'scripts/check-commits.mjs');
    git('commit', '-q', '-m', 'Scripts: check commit messages\n\nThe anchor.');
    const anchor = git('rev-parse', '--short=7', 'HEAD').trim();
    git('checkout', '-q', '-b', 'side');
    await commit('a.txt', good);
    git('checkout', '-q', 'main');
    await commit('b.txt', good);
    git('merge', '-q', '--no-ff', 'side', '-m', "Merge branch 'side'");
    expect(check()).toEqual({
      code: 0,
      out: `commits: 2 checked since ${anchor}, all follow CONTRIBUTING.md, 1 merge commit skipped`,
    });
  });
});
