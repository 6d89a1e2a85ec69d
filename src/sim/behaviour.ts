/**
 * What the simulated SMSC does: every knob, its default (the HappySMSC), and the named
 * presets — a zoo of fake carriers in the manner of Jasmin's test SMSCs. Pure: no I/O.
 */
import { QasidError } from '../core/errors.js';

/** Delivery states a receipt can report, as written in the `stat:` field of the text form. */
export type ReceiptStat = 'ENROUTE' | 'DELIVRD' | 'EXPIRED' | 'DELETED' | 'UNDELIV' | 'ACCEPTD' | 'UNKNOWN' | 'REJECTD';

/** SMPP 3.4 §5.2.28 message_state values, keyed by the `stat:` word of the text receipt. */
export const MESSAGE_STATE: Readonly<Record<ReceiptStat, number>> = Object.freeze({
  ENROUTE: 1,
  DELIVRD: 2,
  EXPIRED: 3,
  DELETED: 4,
  UNDELIV: 5,
  ACCEPTD: 6,
  UNKNOWN: 7,
  REJECTD: 8,
});

export interface SimReceiptBehaviour {
  /** Send a delivery receipt for a submit_sm whose registered_delivery asks for one ((registered_delivery & 0x03) !== 0). */
  enabled: boolean;
  /** Milliseconds between the submit_sm_resp leaving and the receipt being written (rounded up to the 10 ms scheduling bucket). */
  delayMs: number;
  /** 'tlv': receipted_message_id + message_state TLVs only; 'text': the `id:… stat:…` text in short_message only; 'both'. esm_class is 0x04 in every case. */
  format: 'tlv' | 'text' | 'both';
  /**
   * How the receipt writes the message id. 'same': exactly as in submit_sm_resp. 'decimal' / 'hex': the same
   * numeric id rewritten in that base (a carrier answering hex ids and reporting decimal ones). Ignored for uuid ids.
   */
  idFormat: 'same' | 'decimal' | 'hex';
  /** The state every receipt reports, unless `undeliverableEvery` says otherwise. */
  stat: ReceiptStat;
  /** 0 = off; N = every Nth receipt (per listener) reports UNDELIV with err:001 instead of `stat`. */
  undeliverableEvery: number;
  /** Write the receipt BEFORE the submit_sm_resp, in the same flush (some SMSCs do; the gateway must park it). */
  early: boolean;
  /**
   * Spread receipts round robin over every receiving session of the system_id instead of
   * the one the submit came on (Infobip sends them "equally over all sessions"): with
   * several gateway instances, most receipts arrive at an instance that did not submit.
   */
  spread: boolean;
  /**
   * The id in the receipt text when it differs from the TLV's: 'same' writes the TLV's id
   * (see idFormat), 'decimal' / 'hex' the same number in that base (a carrier with hex in
   * receipted_message_id and decimal in `id:`). Ignored for uuid ids.
   */
  textIdFormat: 'same' | 'decimal' | 'hex';
  /**
   * 0 = off; N = every Nth receipt (per listener) writes message_state as a TLV of length 0
   * (SMPP 3.4 §5.3.2.35 says 1); its text, when the format has one, still says id and stat.
   * Like every receipt, it is delivered again when its connection closes unanswered — so
   * to a client that drops the session over it, on every bind.
   */
  zeroLengthStateEvery: number;
}

/** Fuzzing: hostile PDUs with intact framing (./fuzz.ts), spread over the listener's bound sessions. */
export interface SimFuzzBehaviour {
  /** Hostile PDUs per second, for the whole listener. */
  perSecond: number;
  /** Stop after this many (0 = never). */
  limit: number;
  /** PRNG seed: the same seed sends the same PDUs. */
  seed: number;
}

export interface SimBehaviour {
  /** Format of message_id in submit_sm_resp: a decimal counter, the same counter in lower-case hex, or a random UUID. */
  messageIdFormat: 'decimal' | 'hex' | 'uuid';
  /** Delivery receipts (deliver_sm with esm_class 0x04). */
  receipts: SimReceiptBehaviour;
  /** Cap on submit_sm per second for the whole listener (token bucket, burst = `tpsBurst`); over it the answer is ESME_RTHROTTLED (0x58). 0 = no cap. */
  tps: number;
  /** Capacity of the `tps` bucket: submit_sm that may pass at once after a quiet spell. 0 = one second's worth (`tps`). */
  tpsBurst: number;
  /** Answer submit_sm with this command_status: every submit when `every` is 1 or absent, else every Nth (per listener). null = off. */
  submitError: { status: number; every?: number } | null;
  /** Never answer submit_sm (and send no receipt); bind, enquire_link and unbind are still answered. */
  blackhole: boolean;
  /** Once a session is bound, answer nothing at all (enquire_link and unbind included). */
  blackholeAll: boolean;
  /** 0 = off; N = close the connection when its Nth PDU arrives (bind counted): earlier answers are flushed, that PDU and later ones go unanswered. */
  dropAfterPdus: number;
  /** Hold every submit_sm_resp this many milliseconds (rounded up to the 10 ms bucket): a slow SMSC. 0 = answer at once. */
  responseDelayMs: number;
  /** Answer every bind with this error status (e.g. ESME_RBINDFAIL 0x0D, ESME_RINVPASWD 0x0E). null = binds succeed. */
  bindFail: { status: number } | null;
  /** Accept only these credentials; any other system_id/password pair gets ESME_RINVPASWD (0x0E). null = accept anything. */
  credentials: { systemId: string; password: string } | null;
  /** 0 = off; N = after the Nth PDU on a connection is handled, write one malformed frame (command_length 5) to it. */
  malformedAfterPdus: number;
  /** 0 = off; N = after the Nth PDU on a connection is handled, send unbind; later submits get ESME_RINVBNDSTS; unbind_resp closes. */
  unbindAfterPdus: number;
  /** Receipts with no bound receiver/transceiver of their system_id wait in a queue of at most this many (per system_id); beyond it they are dropped and counted. */
  heldReceiptLimit: number;
  /**
   * Before answering a request, write a response of another command with its sequence
   * number: a submit_sm_resp for an enquire_link, an enquire_link_resp for a submit_sm. A
   * correct ESME ignores both (they answer no request of theirs) and waits for the real one.
   */
  strayResponses: boolean;
  /** Send hostile PDUs at a rate (./fuzz.ts); null = off. */
  fuzz: SimFuzzBehaviour | null;
  /**
   * query_sm (SMPP 3.4 §4.8): 'answer' with the state of a message it accepted (ENROUTE
   * until its receipt would be due — receipts.delayMs after its submit_sm_resp, whether
   * receipts are enabled or not — then the state its receipt reports), ESME_RINVMSGID for
   * an id it does not know (or whose source_addr differs); 'ignore' never answers;
   * 'refuse' answers generic_nack ESME_RINVCMDID (an SMSC without query_sm).
   */
  queries: 'answer' | 'ignore' | 'refuse';
}

/** Deep-partial behaviour: what presets, listener options and setBehaviour() take. */
export type SimBehaviourPatch = Omit<Partial<SimBehaviour>, 'receipts'> & { receipts?: Partial<SimReceiptBehaviour> };

/** The HappySMSC: immediate answers, decimal ids, receipts (TLV + text) 10 ms after the response. */
export const DEFAULT_BEHAVIOUR: Readonly<SimBehaviour> = Object.freeze({
  messageIdFormat: 'decimal',
  receipts: Object.freeze({ enabled: true, delayMs: 10, format: 'both', idFormat: 'same', stat: 'DELIVRD', undeliverableEvery: 0, early: false, spread: false, textIdFormat: 'same', zeroLengthStateEvery: 0 }),
  tps: 0,
  tpsBurst: 0,
  submitError: null,
  blackhole: false,
  blackholeAll: false,
  dropAfterPdus: 0,
  responseDelayMs: 0,
  bindFail: null,
  credentials: null,
  malformedAfterPdus: 0,
  unbindAfterPdus: 0,
  heldReceiptLimit: 10_000,
  strayResponses: false,
  fuzz: null,
  queries: 'answer',
}) as SimBehaviour;

/** Named behaviours with a line of help each, in the manner of Jasmin's test SMSCs. */
const PRESET_TABLE = {
  HappySMSC: { about: 'immediate submit_sm_resp, decimal ids, receipts (TLV + text) 10 ms later', patch: {} },
  HexIdsDecimalReceiptsSMSC: { about: 'hex ids in submit_sm_resp, the same number in decimal in receipts', patch: { messageIdFormat: 'hex', receipts: { idFormat: 'decimal' } } },
  EarlyReceiptSMSC: { about: 'each receipt is written before its submit_sm_resp, in the same flush', patch: { receipts: { early: true } } },
  UuidSMSC: { about: 'UUID message ids', patch: { messageIdFormat: 'uuid' } },
  NoReceiptSMSC: { about: 'accepts every submit_sm and never sends receipts; answers query_sm with the state the receipt would have reported', patch: { receipts: { enabled: false } } },
  NoQuerySMSC: { about: 'never sends receipts and never answers query_sm (a carrier whose query_sm goes unanswered)', patch: { receipts: { enabled: false }, queries: 'ignore' } },
  TextReceiptSMSC: { about: 'text-only receipts, no TLVs (many older SMSCs)', patch: { receipts: { format: 'text' } } },
  UndeliverableSMSC: { about: 'every receipt reports UNDELIV err:001', patch: { receipts: { stat: 'UNDELIV' } } },
  ThrottledSMSC: { about: '50 submit_sm per second, ESME_RTHROTTLED beyond', patch: { tps: 50 } },
  ErrorOnSubmitSMSC: { about: 'every submit_sm answered ESME_RSYSERR (0x08)', patch: { submitError: { status: 0x08, every: 1 } } },
  BlackHoleSMSC: { about: 'never answers submit_sm; bind and enquire_link are answered', patch: { blackhole: true } },
  SilentSMSC: { about: 'answers the bind, then nothing at all', patch: { blackholeAll: true } },
  DropAfterSMSC: { about: 'closes each connection when its 10th PDU (bind counted) arrives', patch: { dropAfterPdus: 10 } },
  SlowSMSC: { about: 'every submit_sm_resp 500 ms late', patch: { responseDelayMs: 500 } },
  BindFailSMSC: { about: 'every bind answered ESME_RBINDFAIL (0x0D)', patch: { bindFail: { status: 0x0d } } },
  MalformedSMSC: { about: 'after the 3rd PDU on a connection, writes a frame with command_length 5', patch: { malformedAfterPdus: 3 } },
  UnbindOnSubmitSMSC: { about: 'answers the first submit_sm (2nd PDU after the bind), then sends unbind', patch: { unbindAfterPdus: 2 } },
  HexTlvDecimalTextSMSC: { about: 'hex ids in submit_sm_resp and receipted_message_id, the same number in decimal in the receipt text', patch: { messageIdFormat: 'hex', receipts: { textIdFormat: 'decimal' } } },
  ZeroLengthTlvSMSC: { about: 'every receipt writes message_state with length 0 (the text still says id and stat); delivered again on each bind until answered', patch: { receipts: { zeroLengthStateEvery: 1 } } },
  StrayResponseSMSC: { about: 'before each answer, a response of another command with the same sequence number (submit_sm_resp for enquire_link, enquire_link_resp for submit_sm)', patch: { strayResponses: true } },
  FuzzSMSC: { about: '1,000 hostile PDUs a second with intact framing: random bodies, zero-length and truncated TLVs, unknown commands, stray responses', patch: { fuzz: { perSecond: 1000, limit: 0, seed: 1 } } },
} as const satisfies Record<string, { about: string; patch: SimBehaviourPatch }>;

/** Named behaviours. Look them up with resolvePreset(): case-insensitive, the `SMSC` suffix optional. */
export const PRESETS: Readonly<Record<string, SimBehaviourPatch>> = Object.freeze(
  Object.fromEntries(Object.entries(PRESET_TABLE).map(([name, p]) => [name, p.patch as SimBehaviourPatch])),
);

/** One line of help per preset. */
export const PRESET_ABOUT: Readonly<Record<string, string>> = Object.freeze(Object.fromEntries(Object.entries(PRESET_TABLE).map(([name, p]) => [name, p.about])));

function presetKey(name: string): string {
  return name.toLowerCase().replace(/[-_\s]/g, '').replace(/smsc$/, '');
}

const PRESET_INDEX = new Map(Object.entries(PRESETS).map(([name, patch]) => [presetKey(name), { name, patch }]));

/** The canonical preset name and its behaviour patch; `happy`, `HappySMSC`, `happy-smsc` all work. */
export function resolvePreset(name: string): { name: string; patch: SimBehaviourPatch } {
  const found = PRESET_INDEX.get(presetKey(name));
  if (!found) {
    throw new QasidError('CONFIG_INVALID', `unknown simulator preset "${name}" (known: ${Object.keys(PRESETS).join(', ')})`, { preset: name });
  }
  return found;
}

/** Apply patches in order over `base`; `receipts` merges field by field. The result is validated and frozen. */
export function mergeBehaviour(base: Readonly<SimBehaviour>, ...patches: Array<SimBehaviourPatch | undefined>): Readonly<SimBehaviour> {
  let out: SimBehaviour = { ...base, receipts: { ...base.receipts } };
  for (const p of patches) {
    if (!p) continue;
    const { receipts, ...rest } = p;
    const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as Partial<SimBehaviour>;
    out = { ...out, ...defined, receipts: { ...out.receipts, ...definedOnly(receipts) } };
  }
  validateBehaviour(out);
  return Object.freeze({ ...out, receipts: Object.freeze(out.receipts) });
}

function definedOnly<T extends object>(o: T | undefined): Partial<T> {
  if (!o) return {};
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function nonNegativeInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) throw new QasidError('CONFIG_INVALID', `simulator ${name} must be a non-negative integer, got ${v}`);
}

function status(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new QasidError('CONFIG_INVALID', `simulator ${name} must be a command_status 0..0xFFFFFFFF, got ${v}`);
}

export function validateBehaviour(b: SimBehaviour): void {
  if (!['decimal', 'hex', 'uuid'].includes(b.messageIdFormat)) throw new QasidError('CONFIG_INVALID', `simulator messageIdFormat "${b.messageIdFormat}" is not decimal|hex|uuid`);
  if (!['tlv', 'text', 'both'].includes(b.receipts.format)) throw new QasidError('CONFIG_INVALID', `simulator receipts.format "${b.receipts.format}" is not tlv|text|both`);
  if (!['same', 'decimal', 'hex'].includes(b.receipts.idFormat)) throw new QasidError('CONFIG_INVALID', `simulator receipts.idFormat "${b.receipts.idFormat}" is not same|decimal|hex`);
  if (!['same', 'decimal', 'hex'].includes(b.receipts.textIdFormat)) throw new QasidError('CONFIG_INVALID', `simulator receipts.textIdFormat "${b.receipts.textIdFormat}" is not same|decimal|hex`);
  nonNegativeInt('receipts.zeroLengthStateEvery', b.receipts.zeroLengthStateEvery);
  if (!(b.receipts.stat in MESSAGE_STATE)) throw new QasidError('CONFIG_INVALID', `simulator receipts.stat "${b.receipts.stat}" is not one of ${Object.keys(MESSAGE_STATE).join('|')}`);
  nonNegativeInt('receipts.delayMs', b.receipts.delayMs);
  nonNegativeInt('receipts.undeliverableEvery', b.receipts.undeliverableEvery);
  if (!Number.isFinite(b.tps) || b.tps < 0) throw new QasidError('CONFIG_INVALID', `simulator tps must be >= 0, got ${b.tps}`);
  nonNegativeInt('tpsBurst', b.tpsBurst);
  nonNegativeInt('dropAfterPdus', b.dropAfterPdus);
  nonNegativeInt('responseDelayMs', b.responseDelayMs);
  nonNegativeInt('malformedAfterPdus', b.malformedAfterPdus);
  nonNegativeInt('unbindAfterPdus', b.unbindAfterPdus);
  nonNegativeInt('heldReceiptLimit', b.heldReceiptLimit);
  if (!['answer', 'ignore', 'refuse'].includes(b.queries)) throw new QasidError('CONFIG_INVALID', `simulator queries "${b.queries}" is not answer|ignore|refuse`);
  if (b.fuzz) {
    if (!Number.isInteger(b.fuzz.perSecond) || b.fuzz.perSecond < 1) throw new QasidError('CONFIG_INVALID', `simulator fuzz.perSecond must be an integer >= 1, got ${b.fuzz.perSecond}`);
    nonNegativeInt('fuzz.limit', b.fuzz.limit);
    nonNegativeInt('fuzz.seed', b.fuzz.seed);
  }
  if (b.submitError) {
    status('submitError.status', b.submitError.status);
    if (b.submitError.every !== undefined && (!Number.isInteger(b.submitError.every) || b.submitError.every < 1)) {
      throw new QasidError('CONFIG_INVALID', `simulator submitError.every must be an integer >= 1, got ${b.submitError.every}`);
    }
  }
  if (b.bindFail) status('bindFail.status', b.bindFail.status);
}
