// Durations in config files: "500ms", "8s", "1m", "1h", "1m30s", or a bare number of milliseconds.

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDurationMs(value: unknown, where: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string') {
    const text = value.trim();
    if (/^\d+$/.test(text)) return Number(text);
    const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
    if (parts.length > 0 && parts.map((p) => p[0]).join('') === text) {
      return parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_MS[p[2] ?? 'ms'] ?? 1), 0);
    }
  }
  throw new Error(`${where}: invalid duration ${JSON.stringify(value)} (use e.g. "500ms", "8s", "1m")`);
}
