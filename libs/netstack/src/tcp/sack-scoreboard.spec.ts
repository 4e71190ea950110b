import { SackScoreboard } from './sack-scoreboard.js';

const sackOption = (...blocks: number[]) => {
  const o = Buffer.alloc(4 + 4 * blocks.length);
  o[0] = 1;
  o[1] = 1;
  o[2] = 5;
  o[3] = 2 + 4 * blocks.length;
  blocks.forEach((b, i) => o.writeUInt32BE(b >>> 0, 4 + 4 * i));
  return o;
};

describe('SackScoreboard', () => {
  it('finds every hole below the highest SACKed byte, across sequence wrap-around', () => {
    const base = 0xffff_f000;
    const sb = new SackScoreboard();
    const o = sackOption(base + 3000, base + 4000, base + 1000, base + 2000);
    sb.addFromOptions(o, 0, o.length, base, (base + 10_000) >>> 0);
    expect(sb.nextHole(base)).toBe(base);
    expect(sb.holeEnd).toBe(base + 1000);
    expect(sb.nextHole(base + 1000)).toBe(base + 2000);
    expect(sb.holeEnd).toBe((base + 3000) >>> 0);
    expect(sb.nextHole((base + 3000) >>> 0)).toBe(-1);
    sb.ackedTo(base + 1500);
    expect(sb.nextHole(base + 1500)).toBe(base + 2000);
    sb.add(base + 2000, (base + 3000) >>> 0); // fills the hole: ranges merge
    expect(sb.nextHole(base + 1500)).toBe(-1);
    sb.ackedTo((base + 4000) >>> 0);
    expect(sb.empty).toBe(true);
  });

  it('ignores blocks outside the window and malformed options', () => {
    const sb = new SackScoreboard();
    const o = sackOption(50, 100, 5000, 6000);
    sb.addFromOptions(o, 0, o.length, 100, 4000);
    expect(sb.empty).toBe(true);
    const bad = Buffer.from([5, 40, 0, 0]);
    sb.addFromOptions(bad, 0, bad.length, 0, 1000);
    expect(sb.empty).toBe(true);
  });
});
