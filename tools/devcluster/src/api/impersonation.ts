// Impersonation (Impersonate-User/-Group/-Uid/-Extra-* headers, `kubectl --as/--as-group`): the
// requester needs the `impersonate` verb on users, groups, serviceaccounts (core group) and uids,
// userextras/<key> (authentication.k8s.io), as in the apiserver's impersonation filter.
import type { IncomingMessage } from 'node:http';
import type { UserInfo } from './authn.js';
import { badRequest } from './errors.js';
import type { RequestAttributes } from './request-info.js';

const header = (req: IncomingMessage, name: string): string[] => {
  const v = req.headers[name];
  return v === undefined
    ? []
    : [v].flat().flatMap((x) =>
        x
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      );
};

/** The user to act as, after checking (with `authorize`) that `requester` may impersonate it. */
export function impersonate(
  req: IncomingMessage,
  requester: UserInfo,
  authorize: (a: RequestAttributes) => void,
): UserInfo {
  const users = header(req, 'impersonate-user');
  const groups = header(req, 'impersonate-group');
  const uid = header(req, 'impersonate-uid')[0];
  const extraHeaders = Object.keys(req.headers).filter((h) => h.startsWith('impersonate-extra-'));
  if (users.length === 0) {
    if (groups.length > 0 || uid !== undefined || extraHeaders.length > 0)
      throw badRequest('requested impersonation without a username (Impersonate-User)');
    return requester;
  }
  const username = users[0] ?? '';
  const check = (apiGroup: string, resource: string, name: string, subresource = '', namespace = '') =>
    authorize({
      user: requester,
      verb: 'impersonate',
      resourceRequest: true,
      path: '',
      apiGroup,
      apiVersion: 'v1',
      resource,
      subresource,
      namespace,
      name,
    });
  const sa = /^system:serviceaccount:([^:]+):(.+)$/.exec(username);
  if (sa) check('', 'serviceaccounts', sa[2] ?? '', '', sa[1] ?? '');
  else check('', 'users', username);
  for (const g of groups) check('', 'groups', g);
  if (uid !== undefined) check('authentication.k8s.io', 'uids', uid);
  const extra: Record<string, string[]> = {};
  for (const h of extraHeaders) {
    const key = decodeURIComponent(h.slice('impersonate-extra-'.length));
    const values = header(req, h);
    for (const v of values) check('authentication.k8s.io', 'userextras', v, key);
    extra[key] = values;
  }
  const implied = sa ? ['system:serviceaccounts', `system:serviceaccounts:${sa[1] ?? ''}`] : [];
  const all = [...new Set([...groups, ...implied])];
  if (username !== 'system:anonymous' && !all.includes('system:authenticated'))
    all.push('system:authenticated');
  return {
    username,
    ...(uid !== undefined ? { uid } : {}),
    groups: all,
    ...(Object.keys(extra).length > 0 ? { extra } : {}),
  };
}
