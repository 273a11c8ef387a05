import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';

const RULES = 'monitoring/prometheus/data-quality-rules.yml';
const TESTS = 'monitoring/prometheus/tests/data-quality-rules.test.yml';

const promtool = await execa('promtool', ['--version'], { reject: false });
const present = promtool.exitCode === 0;
// CI installs promtool (scripts/stack/install.sh): a missing one there is a failure, not a skip.
const mustRun = process.env.CI === 'true';
if (!present && !mustRun) process.stderr.write('data-quality-rules.test.ts: skipped, promtool not found (apt-get install prometheus)\n');

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

  describe.skipIf(!present && !mustRun)('with promtool', () => {
    it('pass promtool check rules', async () => {
      const result = await execa('promtool', ['check', 'rules', RULES], { reject: false, all: true });
      expect(result.exitCode, result.all).toBe(0);
    }, 60_000);

    it('pass the promtool rule tests: each kind alerts at its severity, resolves with the detection, and a failing detector or a long cold start opens a ticket', async () => {
      const result = await execa('promtool', ['test', 'rules', TESTS], { reject: false, all: true });
      expect(result.exitCode, result.all).toBe(0);
      expect(result.all).toContain('SUCCESS');
    }, 120_000);
  });
});
