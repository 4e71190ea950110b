// metav1.LabelSelector (matchLabels + matchExpressions) evaluation.
import { isRecord } from './object.js';

export function labelSelectorMatches(selector: unknown, labels: Readonly<Record<string, string>>): boolean {
  if (!isRecord(selector)) return true;
  const ml = selector['matchLabels'];
  if (isRecord(ml) && !Object.entries(ml).every(([k, v]) => labels[k] === v)) return false;
  const exprs = selector['matchExpressions'];
  if (!Array.isArray(exprs)) return true;
  return exprs.every((e: unknown) => {
    if (!isRecord(e)) return true;
    const key = String(e['key']);
    const values = Array.isArray(e['values']) ? (e['values'] as unknown[]).map(String) : [];
    const v = labels[key];
    switch (e['operator']) {
      case 'In':
        return v !== undefined && values.includes(v);
      case 'NotIn':
        return v === undefined || !values.includes(v);
      case 'Exists':
        return v !== undefined;
      case 'DoesNotExist':
        return v === undefined;
      default:
        return false;
    }
  });
}
