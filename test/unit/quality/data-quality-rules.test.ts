import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';

const RULES = 'monitoring/prometheus/data-quality-rules.yml';

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, '')
    .replace(/ /g, '-');
}

describe('data-quality alert rules', () => {
  it('point every alert at a runbook heading that exists in docs/data-quality.md', () => {
    const rules = load(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; annotations: { runbook_url: string } }> }> };
    const anchors = new Set(
      readFileSync('docs/data-quality.md', 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('### Runbook: '))
        .map((line) => anchor(line.slice(4))),
    );
    const alerts = rules.groups.flatMap((g) => g.rules);
    expect(alerts.length).toBeGreaterThan(6);
    for (const rule of alerts) {
      const [page, slug] = rule.annotations.runbook_url.split('#');
      expect(page, rule.alert).toBe('docs/data-quality.md');
      expect(anchors, `${rule.alert} -> #${slug}`).toContain(slug);
    }
  });
  // promtool's `check rules` and `test rules` of these files run in test/unit/serving/monitoring-rules.test.ts, with every other rule file.
});
