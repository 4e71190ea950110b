/** The manager's version, reported by Version and in logs. Kept in step with package.json. */
export const MANAGER_VERSION = '0.1.0';
