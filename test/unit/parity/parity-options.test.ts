import { describe, expect, it } from 'vitest';
import { parityMain } from '../../../parity/src/cli.ts';
import { defaultParityOptions, parityOptionsFrom } from '../../../parity/src/options.ts';

describe('the parity job of a version whose dbt project is not the checkout', () => {
  it('takes --dbt-project-dir (CHURNFEAT_DBT_PROJECT): dbt compiles and builds that project, with its profiles', () => {
    const options = parityOptionsFrom({ dbtProjectDir: 'releases/v2/dbt_project' });
    expect(options.dbt).toMatchObject({ projectDir: 'releases/v2/dbt_project', profilesDir: 'releases/v2/dbt_project' });
    expect(defaultParityOptions({ CHURNFEAT_DBT_PROJECT: 'elsewhere' }).dbt.projectDir).toBe('elsewhere');
    expect(defaultParityOptions({}).dbt.projectDir).toBe('dbt_project');
  });

  it('lists --dbt-project-dir in its usage', async () => {
    let text = '';
    await parityMain(['--help'], {}, (line) => (text += line));
    expect(text).toContain('--dbt-project-dir');
  });
});
