export { Supervisor, defaultSupervisorOptions } from './supervisor.js';
export type { SupervisorEvent, SupervisorListener, OutputListener, SupervisorDeps, SupervisorOptions, StartOptions, ChildStatus } from './supervisor.js';
export { nextRestartDelayMs, MAX_RESTART_DELAY_MS } from './backoff.js';
export { cleanStaleChildren, readChildrenFile, parseChildrenFile, cmdlineMatches, isStillOurs, CHILDREN_FILE } from './children-file.js';
export type { ChildRecord, StaleCleanupResult, CleanStaleOptions } from './children-file.js';
export { realProcAccess, parseProcStat, parseCmdline } from './proc.js';
export type { ProcAccess } from './proc.js';
