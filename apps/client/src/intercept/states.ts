// Intercept states as the CLI shows them (list, status), for the intercept commands and the keeper.
import { manager } from '@telepresence/rpc';

/** State of an intercept the manager does not have (yet) on the current session. */
export const RECREATING = 'RE-CREATING';

const STATE_NAMES: Record<number, string> = {
  [manager.InterceptState.INTERCEPT_STATE_WAITING]: 'WAITING',
  [manager.InterceptState.INTERCEPT_STATE_ACTIVE]: 'ACTIVE',
  [manager.InterceptState.INTERCEPT_STATE_BROKEN]: 'BROKEN',
};

export function stateName(s: manager.InterceptState): string {
  return STATE_NAMES[s] ?? 'UNKNOWN';
}
