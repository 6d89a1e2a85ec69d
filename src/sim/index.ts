/** The SMSC simulator (`qasid sim`): an SMPP 3.4 server for tests, the demo and benchmarks. */
export {
  DEFAULT_BEHAVIOUR,
  MESSAGE_STATE,
  PRESETS,
  PRESET_ABOUT,
  mergeBehaviour,
  resolvePreset,
  validateBehaviour,
  type ReceiptStat,
  type SimBehaviour,
  type SimBehaviourPatch,
  type SimReceiptBehaviour,
} from './behaviour.js';
export type { BindMode, SubmitSeen } from './connection.js';
export { LONG_MO_METHODS, moBodies, type LongMoMethod, type MoOptions } from './mo.js';
export { startSimulator, type SimListenerOptions, type SimServer } from './server.js';
export type { SimStats } from './stats.js';
