import { createHash } from 'node:crypto';

/** How many lake events a user has (ingested at or before as_of): the stratification key. */
export interface UserActivity {
  userId: string;
  events: number;
}

/** One activity stratum of the population and the users drawn from it. */
export interface Stratum {
  name: string;
  /** Inclusive event-count range of the stratum's population. */
  minEvents: number;
  maxEvents: number;
  population: number;
  users: string[];
}

export interface SampleResult {
  users: string[];
  strata: Stratum[];
  population: number;
}

const NAMES: Record<number, string[]> = {
  1: ['all'],
  2: ['rare', 'active'],
  3: ['rare', 'regular', 'active'],
  4: ['rare', 'light', 'regular', 'active'],
  5: ['rare', 'light', 'regular', 'busy', 'active'],
};

function draw(seed: number, userId: string): string {
  return createHash('sha1').update(`${seed}:${userId}`).digest('hex');
}

/**
 * A stratified sample: users sorted by activity are cut into `strata` groups of equal
 * population (quantiles), and each group gets an equal share of `size` (a group smaller
 * than its share gives the rest to the others), so the rarest and the most active users
 * always appear. Within a group the draw is a seeded hash order: the same seed and
 * population give the same sample.
 */
export function stratifiedSample(activity: readonly UserActivity[], size: number, strata: number, seed: number): SampleResult {
  const sorted = [...activity].sort((a, b) => a.events - b.events || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  const groups = Math.max(1, Math.min(strata, sorted.length));
  const names = NAMES[groups] ?? Array.from({ length: groups }, (_, i) => `q${i + 1}`);
  const cuts: Array<typeof sorted> = [];
  for (let g = 0; g < groups; g += 1) cuts.push(sorted.slice(Math.floor((g * sorted.length) / groups), Math.floor(((g + 1) * sorted.length) / groups)));

  // Equal quotas, then hand out what small groups cannot use, one user at a time.
  const target = Math.min(size, sorted.length);
  const quotas = cuts.map(() => 0);
  let left = target;
  while (left > 0) {
    let gave = false;
    for (let g = 0; g < groups && left > 0; g += 1) {
      if ((quotas[g] as number) < (cuts[g] as UserActivity[]).length) {
        quotas[g] = (quotas[g] as number) + 1;
        left -= 1;
        gave = true;
      }
    }
    if (!gave) break;
  }

  const result: Stratum[] = cuts.map((group, g) => {
    const drawn = [...group]
      .map((user) => ({ user, order: draw(seed, user.userId) }))
      .sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0))
      .slice(0, quotas[g])
      .map(({ user }) => user.userId)
      .sort();
    return { name: names[g] as string, minEvents: group[0]?.events ?? 0, maxEvents: group[group.length - 1]?.events ?? 0, population: group.length, users: drawn };
  });
  return { users: result.flatMap((s) => s.users), strata: result, population: sorted.length };
}
