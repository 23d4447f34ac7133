#!/usr/bin/env node
// `node scripts/check-commits.mjs`: checks the message of every commit made on top of the commit
// that added this file against CONTRIBUTING.md ("Commit messages"); the history before it stays as
// it was written. `npm test` runs it first. Merge commits are skipped: git writes their messages.
// Only descendants of that commit count (`--ancestry-path`): commits of a branch that forked
// before it and was merged later were written before the convention, like the rest of history.
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Longest subject line, in characters. */
export const SUBJECT_MAX = 72;
/** Longest body line, in characters, for lines that can be wrapped. */
export const BODY_LINE_MAX = 72;

const URL_PATTERN = /[a-z][a-z0-9+.-]*:\/\/\S/i;
// Four spaces or a tab: a code line, a command, a table row or a quoted log line, kept as it is.
// A bullet's continuation (two spaces) is prose and is wrapped like any other line.
const VERBATIM_PATTERN = /^( {4}|\t)/;

const length = (line) => [...line].length;

/**
 * What is wrong with one commit message, as short sentences (none when it follows the
 * convention): a subject of at most 72 characters, a blank second line, a body, and body lines of
 * at most 72 characters, except lines that cannot be wrapped (one holding a URL, or one indented by
 * four spaces or a tab).
 *
 * @param {string} message the whole message, as `git log --format=%B` prints it
 * @returns {string[]}
 */
export function checkMessage(message) {
  const lines = message.replace(/\r\n/g, '\n').replace(/\s+$/, '').split('\n');
  const subject = lines[0] ?? '';
  const problems = [];
  if (subject.trim() === '') {
    problems.push('empty subject');
  } else if (length(subject) > SUBJECT_MAX) {
    problems.push(`subject of ${length(subject)} characters (at most ${SUBJECT_MAX})`);
  }
  if (lines.length > 1 && lines[1].trim() !== '') {
    problems.push('no blank line after the subject');
  }
  const body = lines.slice(lines.length > 1 && lines[1].trim() === '' ? 2 : 1);
  if (!body.some((line) => line.trim() !== '')) {
    problems.push('no body (say why, the figures and how it was verified)');
  }
  const long = body
    .map((line, index) => ({ line, number: index + lines.length - body.length + 1 }))
    .filter(
      ({ line }) =>
        length(line) > BODY_LINE_MAX && !URL_PATTERN.test(line) && !VERBATIM_PATTERN.test(line),
    );
  if (long.length > 0) {
    const numbers = long.map(({ number }) => number).join(', ');
    problems.push(
      `body ${long.length === 1 ? 'line' : 'lines'} ${numbers} over ${BODY_LINE_MAX} characters`,
    );
  }
  return problems;
}

function git(root, args) {
  const result = spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  return { ok: result.status === 0, out: result.stdout ?? '' };
}

/**
 * Checks the commits after the one that added this file in the repository at `root`; prints one
 * line per commit that breaks the convention, or why there is nothing to check, and a summary.
 *
 * @param {string} root the repository's top directory
 * @returns {number} the exit code: 1 if any commit breaks the convention, else 0
 */
export function checkCommits(root) {
  const self = 'scripts/check-commits.mjs';
  if (git(root, ['rev-parse', '--is-inside-work-tree']).out.trim() !== 'true') {
    console.log('commits: not a git checkout (or git is missing): nothing to check');
    return 0;
  }
  if (!git(root, ['rev-parse', '--verify', '--quiet', 'HEAD']).ok) {
    console.log('commits: no commit yet: nothing to check');
    return 0;
  }
  const shallow = git(root, ['rev-parse', '--is-shallow-repository']).out.trim() === 'true';
  const added = git(root, ['log', '--diff-filter=A', '--format=%H', '--', self])
    .out.split('\n')
    .filter(Boolean);
  const anchor = added.at(-1);
  if (!anchor) {
    const committed = git(root, ['cat-file', '-e', `HEAD:${self}`]).ok;
    console.log(
      committed && shallow
        ? `commits: shallow clone without the commit that added ${self}: nothing to check (git fetch --unshallow to check)`
        : `commits: ${self} is not committed yet: nothing to check`,
    );
    return 0;
  }
  const short = anchor.slice(0, 7);
  // In a shallow clone the oldest commit present looks as if it added every file: when the real
  // anchor is older, the commits after that one are all after the anchor and are checked.
  const boundary = shallow && !git(root, ['rev-parse', '--verify', '--quiet', `${anchor}^`]).ok;
  if (boundary) {
    console.log(
      `commits: shallow clone: ${short} is its oldest commit, and ${self} may have been added before it; checking the commits after ${short} (git fetch --unshallow to check them all)`,
    );
  }
  const range = ['--ancestry-path', `${anchor}..HEAD`];
  const merges = git(root, ['rev-list', '--count', '--merges', ...range]).out.trim();
  const log = git(root, ['log', '--no-merges', '--format=%x1e%H%x00%B', ...range]);
  if (!log.ok) {
    console.log(`commits: git log ${short}..HEAD failed`);
    return 1;
  }
  const commits = log.out
    .split('\x1e')
    .filter(Boolean)
    .map((entry) => {
      const [hash, message = ''] = entry.split('\x00');
      return { hash, message };
    });
  let offending = 0;
  for (const { hash, message } of commits) {
    const problems = checkMessage(message);
    if (problems.length === 0) continue;
    offending += 1;
    const subject = message.split('\n')[0];
    console.log(`${hash.slice(0, 7)} ${problems.join('; ')}: ${subject}`);
  }
  const skipped =
    Number(merges) > 0 ? `, ${merges} merge commit${merges === '1' ? '' : 's'} skipped` : '';
  if (offending > 0) {
    console.log(
      `commits: ${offending} of ${commits.length} since ${short} break CONTRIBUTING.md ("Commit messages")${skipped}; reword them with git rebase -i ${short}`,
    );
    return 1;
  }
  console.log(
    `commits: ${commits.length} checked since ${short}, all follow CONTRIBUTING.md${skipped}`,
  );
  return 0;
}

const invoked = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (invoked === realpathSync(fileURLToPath(import.meta.url))) {
  process.exitCode = checkCommits(fileURLToPath(new URL('..', import.meta.url)));
}
