// Name helpers. Every suffix test here respects label boundaries: "ns1" is a suffix of "foo.ns1" and of
// "ns1" itself, never of "foo.xns1" (the original's plain strings.HasSuffix did match that).

/** The marker search domain the OS appends to single labels; the server strips it (reference 4.4). */
export const SEARCH_MARKER = 'tel2-search';

/** Lowercases and trims surrounding dots: ".Example.COM." -> "example.com". */
export function normalizeDomain(domain: string): string {
  return domain.trim().toLowerCase().replace(/^\.+/, '').replace(/\.+$/, '');
}

/** True when `name` equals `suffix` or ends with "." + suffix. Both must be normalized. */
export function hasLabelSuffix(name: string, suffix: string): boolean {
  if (suffix === '') return false;
  if (name.length === suffix.length) return name === suffix;
  return (
    name.length > suffix.length &&
    name.endsWith(suffix) &&
    name.charCodeAt(name.length - suffix.length - 1) === 0x2e /* . */
  );
}

/** True when a name has exactly one label ("echo"). The root name "" is not a single label. */
export function isSingleLabel(name: string): boolean {
  return name !== '' && !name.includes('.');
}

/** Removes ".suffix" from the end of `name` when what remains is non-empty; otherwise returns name as is. */
export function stripLabelSuffix(name: string, suffix: string): string {
  if (name.length > suffix.length && hasLabelSuffix(name, suffix)) {
    return name.slice(0, name.length - suffix.length - 1);
  }
  return name;
}

/** True when any label of `name` equals `label`. */
export function hasLabel(name: string, label: string): boolean {
  return (
    name === label ||
    name.startsWith(label + '.') ||
    hasLabelSuffix(name, label) ||
    name.includes('.' + label + '.')
  );
}
