/** Vitest global setup of every project: says which Node runs the tests (make test runs the pinned Node 24). */
export default function setup(): void {
  process.stdout.write(`tests on node ${process.version} (${process.execPath})\n`);
}
