/**
 * What a command_status in a response means for the caller: done, slow down, try again
 * later, or give up. Data, not code (cf. ZoneMTA's bounce table). Vendor-specific
 * statuses (0x400–0x4FF) default to `fail`; carriers that use them for temporary
 * conditions will get a per-carrier override later.
 */
export type StatusClass = 'ok' | 'slowdown' | 'retry' | 'fail';

/** SMPP 3.4 §5.1.3 command_status values, by what the sender should do. */
const TABLE: ReadonlyArray<readonly [number, StatusClass, string]> = [
  [0x00000000, 'ok', 'ESME_ROK'],
  // The SMSC is overloaded: same message, later, slower. No attempt is spent.
  [0x00000058, 'slowdown', 'ESME_RTHROTTLED'],
  [0x00000014, 'slowdown', 'ESME_RMSGQFUL'],
  // Temporary conditions at the SMSC or beyond: retry on the schedule.
  [0x00000008, 'retry', 'ESME_RSYSERR'],
  [0x00000045, 'retry', 'ESME_RSUBMITFAIL'],
  [0x00000064, 'retry', 'ESME_RX_T_APPN'],
  [0x00000004, 'retry', 'ESME_RINVBNDSTS'], // we believed we were bound; the session will recycle
  [0x000000fe, 'retry', 'ESME_RDELIVERYFAILURE'],
  [0x000000ff, 'retry', 'ESME_RUNKNOWNERR'],
  // The message itself is wrong or refused: retrying cannot help.
  [0x00000001, 'fail', 'ESME_RINVMSGLEN'],
  [0x00000002, 'fail', 'ESME_RINVCMDLEN'],
  [0x00000003, 'fail', 'ESME_RINVCMDID'],
  [0x0000000a, 'fail', 'ESME_RINVSRCADR'],
  [0x0000000b, 'fail', 'ESME_RINVDSTADR'],
  [0x0000000c, 'fail', 'ESME_RINVMSGID'],
  [0x00000033, 'fail', 'ESME_RINVNUMDESTS'],
  [0x00000040, 'fail', 'ESME_RINVDESTFLAG'],
  [0x00000042, 'fail', 'ESME_RINVSUBREP'],
  [0x00000043, 'fail', 'ESME_RINVESMCLASS'],
  [0x00000048, 'fail', 'ESME_RINVSRCTON'],
  [0x00000049, 'fail', 'ESME_RINVSRCNPI'],
  [0x00000050, 'fail', 'ESME_RINVDSTTON'],
  [0x00000051, 'fail', 'ESME_RINVDSTNPI'],
  [0x00000053, 'fail', 'ESME_RINVSYSTYP'],
  [0x00000061, 'fail', 'ESME_RINVSCHED'],
  [0x00000062, 'fail', 'ESME_RINVEXPIRY'],
  [0x00000063, 'fail', 'ESME_RINVDFTMSGID'],
  [0x00000066, 'fail', 'ESME_RX_R_APPN'],
  [0x00000067, 'fail', 'ESME_RQUERYFAIL'],
  [0x000000c0, 'fail', 'ESME_RINVOPTPARSTREAM'],
  [0x000000c1, 'fail', 'ESME_ROPTPARNOTALLWD'],
  [0x000000c2, 'fail', 'ESME_RINVPARLEN'],
  [0x000000c3, 'fail', 'ESME_RMISSINGOPTPARAM'],
  [0x000000c4, 'fail', 'ESME_RINVOPTPARAMVAL'],
];

const BY_STATUS = new Map<number, StatusClass>(TABLE.map(([s, c]) => [s, c]));

export function classifyStatus(status: number): StatusClass {
  return BY_STATUS.get(status) ?? 'fail';
}
