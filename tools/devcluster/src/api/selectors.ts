// Label and field selectors as kubectl and client libraries send them.
import { badRequest } from './errors.js';
import { field, type KubeObject } from './object.js';

export type Requirement =
  | { op: 'exists' | '!exists'; key: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: '=' | '!='; key: string; value: string };

export type Selector = (labels: Readonly<Record<string, string>>) => boolean;

/** Splits on commas that are not inside parentheses. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

export function parseLabelSelector(s: string): Requirement[] {
  return splitTerms(s).map((term) => {
    let m = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (m) {
      return {
        op: m[2] as 'in' | 'notin',
        key: m[1] ?? '',
        values: (m[3] ?? '').split(',').map((v) => v.trim()),
      };
    }
    m = /^([^\s!=]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
    if (m) return { op: m[2] === '!=' ? '!=' : '=', key: m[1] ?? '', value: m[3] ?? '' };
    m = /^!\s*(\S+)$/.exec(term);
    if (m) return { op: '!exists', key: m[1] ?? '' };
    if (/^[^\s!=()]+$/.test(term)) return { op: 'exists', key: term };
    throw badRequest(`unable to parse requirement: invalid label selector "${s}"`);
  });
}

export function matches(reqs: readonly Requirement[], labels: Readonly<Record<string, string>>): boolean {
  return reqs.every((r) => {
    const v = labels[r.key];
    switch (r.op) {
      case 'exists':
        return v !== undefined;
      case '!exists':
        return v === undefined;
      case 'in':
        return v !== undefined && r.values.includes(v);
      case 'notin':
        return v === undefined || !r.values.includes(v);
      case '=':
        return v === r.value;
      case '!=':
        return v !== r.value;
    }
  });
}

/** A matchLabels map as a selector (empty map selects everything). */
export function labelsMatch(
  selector: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
) {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export function parseFieldSelector(s: string): (obj: KubeObject) => boolean {
  const terms = splitTerms(s).map((term) => {
    const m = /^([^\s!=]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid field selector "${s}"`);
    return { path: (m[1] ?? '').split('.'), neg: m[2] === '!=', value: m[3] ?? '' };
  });
  return (obj) =>
    terms.every((t) => {
      const raw = field(obj, ...t.path);
      const v = raw === undefined || raw === null ? '' : String(raw);
      return t.neg ? v !== t.value : v === t.value;
    });
}
