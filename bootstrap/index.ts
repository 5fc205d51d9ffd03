/**
 * `komrade/bootstrap`: the Operator a community runs. {@link createOperator}
 * runs a node with the name registry and its transparency log;
 * {@link openRegistry} is the registry alone (no network); {@link exportLog}
 * and {@link auditLog} let anyone check the log offline.
 */
export { createOperator, type Operator, type OperatorInit } from './operator.js'
export { openRegistry, type Registry, type RegistryInit, type RegisteredEntry, type LookedUpEntry } from './registry.js'
export {
  createRegistryService, answerRegistryRequest, REGISTRY_OPS, type RegistryService, type RegistryServiceInit
} from './registry-protocol.js'
export { exportLog, auditLog, RegistryInUseError, type AuditReport, type AuditProblem, type AuditOptions, type ExportResult } from './audit.js'
export { RegistryCorruptError, OperatorKeyMismatchError } from './registry-store.js'
export { DEFAULT_RATE_LIMITS, LOG_EXPORT_MAGIC, REGISTRY_DIR, type RateLimit, type RateLimits } from './constants.js'
