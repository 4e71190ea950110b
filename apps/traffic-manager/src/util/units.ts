// Parsers for the duration and size strings the chart passes as env ("24h", "15s", "4Mi").

const durationUnitsMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go-style duration ("1h30m", "15s", "250ms") or a plain number of seconds into milliseconds. */
export function parseDurationMs(text: string): number {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) {
    return Math.round(Number(s) * 1000);
  }
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    part.lastIndex = pos;
    const m = part.exec(s);
    if (m === null || m[1] === undefined || m[2] === undefined) {
      throw new Error(`invalid duration "${text}": use e.g. 15s, 500ms, 2m or 24h`);
    }
    total += Number(m[1]) * (durationUnitsMs[m[2]] ?? 0);
    pos = part.lastIndex;
  }
  if (s.length === 0) {
    throw new Error('invalid duration "": use e.g. 15s, 500ms, 2m or 24h');
  }
  return Math.round(total);
}

const sizeUnits: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
};

/** Parses a Kubernetes quantity-style size ("4Mi", "512Ki", "4M", "1048576") into bytes. */
export function parseSizeBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(|k|M|G|Ki|Mi|Gi)$/.exec(text.trim());
  if (m === null || m[1] === undefined || m[2] === undefined) {
    throw new Error(`invalid size "${text}": use e.g. 4Mi, 512Ki or a number of bytes`);
  }
  return Math.round(Number(m[1]) * (sizeUnits[m[2]] ?? 1));
}

/** Splits a space- or comma-separated env list, dropping empty entries. */
export function splitList(text: string | undefined): string[] {
  return (text ?? '').split(/[\s,]+/).filter((s) => s.length > 0);
}
