import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';

/** GitHub's heading anchor: lower case, punctuation dropped (hyphens and underscores kept), spaces to hyphens. */
function headingAnchor(title: string): string {
  return title
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of the `### Runbook: <title>` headings of a Markdown page. */
function runbookAnchors(markdown: string): Set<string> {
  return new Set([...markdown.matchAll(/^### (Runbook: .+)$/gm)].map((m) => headingAnchor(m[1] as string)));
}

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; annotations?: Record<string, string> }> }>;
}

const DIR = 'monitoring/prometheus';
const FILES = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f));

describe('alert runbooks', () => {
  it('the anchor of a heading is what GitHub links to', () => {
    expect(headingAnchor('Runbook: dead-letter rate')).toBe('runbook-dead-letter-rate');
    expect(headingAnchor('Runbook: Redis memory (and evictions)')).toBe('runbook-redis-memory-and-evictions');
  });

  it('finds rule files to check', () => {
    expect(FILES).toContain('churnfeat-rules.yml');
  });

  for (const file of FILES) {
    it(`every alert of ${file} has a runbook_url docs/<page>.md#runbook-<slug> naming a "### Runbook: <title>" heading of that page`, () => {
      const rules = (load(readFileSync(`${DIR}/${file}`, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);
      expect(rules.length).toBeGreaterThan(0);
      for (const rule of rules) {
        const annotations = rule.annotations ?? {};
        expect(annotations, `${rule.alert}: the annotation is runbook_url, not runbook`).not.toHaveProperty('runbook');
        const url = annotations.runbook_url ?? '';
        const match = /^(docs\/[a-z0-9-]+\.md)#(runbook-[a-z0-9-]+)$/.exec(url);
        expect(match, `${rule.alert}: runbook_url ${JSON.stringify(url)}`).not.toBeNull();
        const [, page, anchor] = match as unknown as [string, string, string];
        expect(existsSync(page), `${rule.alert}: ${page} exists`).toBe(true);
        expect([...runbookAnchors(readFileSync(page, 'utf8'))], `${rule.alert}: ${page} has the heading of #${anchor}`).toContain(anchor);
      }
    });
  }
});
