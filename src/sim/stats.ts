/** Live counters of one simulator listener. Plain numbers, mutated in place; read them any time. */
export interface SimStats {
  /** Connections accepted since start (open ones: SimServer.connections()). */
  connections: number;
  /** Successful binds of any mode. */
  binds: number;
  /** Most sessions bound at once (any system_id): what a carrier counting binds per account sees. */
  boundPeak: number;
  /** Binds answered with an error status (bindFail, wrong credentials, already bound). */
  bindFailures: number;
  /** unbind requests received from clients. */
  unbinds: number;
  /** enquire_link requests received from clients. */
  enquireLinks: number;
  /** submit_sm received. */
  submits: number;
  /** submit_sm carrying a validity_period (malformed ones too: those are answered ESME_RINVEXPIRY). */
  validityPeriods: number;
  /** submit_sm answered with ESME_ROK. */
  submitOk: number;
  /** submit_sm answered with an error status, by status name (ESME_RTHROTTLED included). */
  submitErrors: Record<string, number>;
  /** submit_sm refused by the TPS cap (also counted in submitErrors.ESME_RTHROTTLED). */
  throttled: number;
  /** Requests deliberately left unanswered (blackhole / blackholeAll). */
  blackholed: number;
  /** Receipt deliver_sm written to a client. */
  receiptsSent: number;
  /** deliver_sm_resp received for a receipt. */
  receiptsAcked: number;
  /** Receipts waiting for a receiver/transceiver of their system_id to bind. */
  receiptsHeld: number;
  /** Receipts dropped: their hold queue was full, or the listener closed. */
  receiptsDropped: number;
  /**
   * Receipts written to a connection that closed before their deliver_sm_resp came: queued
   * again for another session of the system_id, as an SMSC retries an unacknowledged
   * receipt (each new write counts in receiptsSent again).
   */
  receiptsRedelivered: number;
  /** MO deliver_sm written (one per receiving session). */
  moSent: number;
  /** deliver_sm_resp received (receipts and MO). */
  deliverResps: number;
  /** deliver_sm_resp received with a non-zero status (the client refused a receipt or MO). */
  deliverRespErrors: number;
  /** Those non-zero deliver_sm_resp statuses, by status name (e.g. ESME_RX_T_APPN). */
  deliverRespStatus: Record<string, number>;
  /** generic_nack received from clients. */
  genericNacks: number;
  /** generic_nack sent to clients (unknown command_id). */
  genericNacksSent: number;
  /** unbind requests the simulator sent (unbindAfterPdus). */
  unbindsSent: number;
  /** Connections closed because the client sent bytes that are not valid SMPP. */
  protocolErrors: number;
  /** Responses written with the sequence number of a request of another command (strayResponses). */
  strayResponsesSent: number;
  /** Responses of any command received from clients. */
  responsesReceived: number;
  /** query_sm received, and of those answered with a state (the rest: unknown message_id ESME_RINVMSGID, refused, or ignored). */
  queries: number;
  queriesAnswered: number;
  /** Hostile PDUs written (fuzz), all kinds. */
  fuzzSent: number;
  /** Of those, requests, which a correct client answers (deliver_sm_resp, generic_nack, enquire_link_resp …). */
  fuzzRequestsSent: number;
}

export function newStats(): SimStats {
  return {
    connections: 0,
    binds: 0,
    boundPeak: 0,
    bindFailures: 0,
    unbinds: 0,
    enquireLinks: 0,
    submits: 0,
    validityPeriods: 0,
    submitOk: 0,
    submitErrors: {},
    throttled: 0,
    blackholed: 0,
    receiptsSent: 0,
    receiptsAcked: 0,
    receiptsHeld: 0,
    receiptsDropped: 0,
    receiptsRedelivered: 0,
    moSent: 0,
    deliverResps: 0,
    deliverRespErrors: 0,
    deliverRespStatus: {},
    genericNacks: 0,
    genericNacksSent: 0,
    unbindsSent: 0,
    protocolErrors: 0,
    strayResponsesSent: 0,
    responsesReceived: 0,
    queries: 0,
    queriesAnswered: 0,
    fuzzSent: 0,
    fuzzRequestsSent: 0,
  };
}
