// The one guard for tests that need something of the machine (root, Linux). Where it is there, the
// tests run as written; where it is not, they are skipped with the need in their name (`[needs root]`),
// and the skip reporter (skip-reporter.js) counts them by need at the end of the run, so a run as a
// normal user says what it did not test. As root on Linux (CI) nothing is skipped.
// Import it as 'test-requirements' (jest.config.base.js and tsconfig.base.json map the name here).

/** What each need is, and why a test would not run without it. */
const NEEDS = {
  root: {
    met: () => process.getuid?.() === 0,
    why: 'network namespaces, TUN devices and nft need root',
  },
  linux: {
    met: () => process.platform === 'linux',
    why: 'a Linux-only mechanism',
  },
};

/** The marker a skipped test carries in its name; the reporter reads it back. */
export function needTag(need) {
  return `[needs ${need}]`;
}

/** `needs('root').describe(...)`, `.it(...)`, `.met`: see requirements.d.ts. */
export function needs(need) {
  const known = NEEDS[need];
  if (known === undefined)
    throw new Error(`unknown test requirement '${need}' (known: ${Object.keys(NEEDS).join(', ')})`);
  const met = known.met();
  const tag = needTag(need);
  const skipped = (skip) => (name, fn, timeout) => skip(`${name} ${tag}`, fn, timeout);
  return {
    met,
    why: known.why,
    describe: met ? describe : skipped(describe.skip),
    it: met ? it : skipped(it.skip),
  };
}
