import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

// docs/operating.md, four levels up from src/dashboard and dist/dashboard alike (the images
// keep it for this page).
const RUNBOOK = new URL('../../../../docs/operating.md', import.meta.url);

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
export const headingSlug = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

/** Inline Markdown: code spans, bold, and links (kept as links only within the page). */
function inline(text: string) {
  return text
    .split(/(`[^`]*`)/)
    .map((part) => {
      if (part.startsWith('`') && part.endsWith('`') && part.length > 1) {
        return `<code>${escape(part.slice(1, -1))}</code>`;
      }
      return escape(part)
        .replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>')
        .replace(/\[([^\]]+)\]\((#[^)\s]+)\)/g, '<a href="$2">$1</a>')
        .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, '$1');
    })
    .join('');
}

/**
 * docs/operating.md as a plain page, so that the banner's runbook links work offline and in
 * the images: headings get GitHub's anchors (the alerts' `runbook_url`s), paragraphs and lists
 * their text, tables and code blocks stay preformatted. Not a general Markdown renderer.
 */
export function renderRunbook(markdown: string): string {
  const out: string[] = [];
  let paragraph: string[] = [];
  let list: string[] = [];
  let pre: string[] | undefined;
  const flush = () => {
    if (paragraph.length > 0) out.push(`<p>${inline(paragraph.join(' '))}</p>`);
    if (list.length > 0)
      out.push(`<ul>${list.map((item) => `<li>${inline(item)}</li>`).join('')}</ul>`);
    paragraph = [];
    list = [];
  };
  for (const line of markdown.split('\n')) {
    if (pre !== undefined) {
      if (line.startsWith('```')) {
        out.push(`<pre>${escape(pre.join('\n'))}</pre>`);
        pre = undefined;
      } else pre.push(line);
      continue;
    }
    const heading = /^(#{1,4}) (.+)$/.exec(line);
    if (line.startsWith('```')) {
      flush();
      pre = [];
    } else if (heading) {
      flush();
      const level = heading[1]?.length ?? 1;
      const title = heading[2] ?? '';
      out.push(`<h${level} id="${escape(headingSlug(title))}">${inline(title)}</h${level}>`);
    } else if (line.startsWith('|')) {
      flush();
      out.push(`<pre>${escape(line)}</pre>`);
    } else if (/^- /.test(line)) {
      if (paragraph.length > 0) flush();
      list.push(line.slice(2));
    } else if (/^\s+\S/.test(line) && list.length > 0) {
      list[list.length - 1] += ` ${line.trim()}`;
    } else if (line.trim() === '') {
      flush();
    } else paragraph.push(line);
  }
  flush();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Callback Gateway — runbook</title>
<link rel="stylesheet" href="/dashboard/assets/dashboard.css"></head>
<body class="runbook"><header><h1>Callback Gateway runbook</h1><nav><a href="/dashboard">dashboard</a></nav></header>
<article>${out.join('\n')}</article></body></html>
`;
}

/** The runbook page, or undefined when docs/operating.md is not there. */
export async function loadRunbook(): Promise<Buffer | undefined> {
  const markdown = await readFile(fileURLToPath(RUNBOOK), 'utf8').catch(() => undefined);
  return markdown === undefined ? undefined : Buffer.from(renderRunbook(markdown));
}
