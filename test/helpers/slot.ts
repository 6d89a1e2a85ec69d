/** Redis Cluster's key slot (the daemon's own computation, src/queue/slot.ts). */
export { clusterSlot } from '../../src/queue/slot.js';
