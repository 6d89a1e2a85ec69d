/**
 * Every metric Qasid exports: name, type, help and labels. The registry (registry.ts),
 * the Grafana dashboard and the alert rules (deploy/) all use these names; a test checks
 * that each name the dashboard and rules use appears in /metrics. Labels are carrier,
 * session, status, state, reason — never a number, a text or a message id.
 */
export const METRICS = {
  submits: { name: 'qasid_submits_total', type: 'counter', help: 'submit_sm answered, by carrier and command_status name (or "timeout" when no answer came in time).', labels: ['carrier', 'status'] },
  submitDuration: { name: 'qasid_submit_duration_seconds', type: 'histogram', help: 'Time from submit_sm written to submit_sm_resp, by carrier.', labels: ['carrier'] },
  messageLatency: { name: 'qasid_message_latency_seconds', type: 'histogram', help: 'Time from the intake XADD to the final event, by carrier ("none" when no carrier took it) and final status. Includes any time a message was scheduled or deferred for.', labels: ['carrier', 'status'] },
  receiptLatency: { name: 'qasid_receipt_latency_seconds', type: 'histogram', help: 'Time from submit_sm_resp to the final delivery receipt, by carrier.', labels: ['carrier'] },
  receiptsReceived: { name: 'qasid_receipts_received_total', type: 'counter', help: 'Delivery receipts received, by carrier.', labels: ['carrier'] },
  receiptsMatched: { name: 'qasid_receipts_matched_total', type: 'counter', help: 'Receipts matched to a message (directly or after parking), by carrier.', labels: ['carrier'] },
  receiptsUnmatched: { name: 'qasid_receipts_unmatched_total', type: 'counter', help: 'Receipts that matched no message: unparseable, late (for a message already settled or gone), or never_matched (parked, and no mapping came within the park time).', labels: ['carrier', 'reason'] },
  receiptsParked: { name: 'qasid_receipts_parked_total', type: 'counter', help: 'Receipts that arrived before their submit_sm_resp was recorded.', labels: ['carrier'] },
  receiptStates: { name: 'qasid_receipt_states_total', type: 'counter', help: 'Final receipt states, by carrier and state (delivered, undeliverable, expired, ...).', labels: ['carrier', 'state'] },
  sessionUp: { name: 'qasid_session_up', type: 'gauge', help: '1 when the session is bound, else 0.', labels: ['carrier', 'session'] },
  sessionState: { name: 'qasid_session_state', type: 'gauge', help: '1 for the state a session is in (idle, connecting, binding, bound, unbinding, backoff, stopped).', labels: ['carrier', 'session', 'state'] },
  windowInFlight: { name: 'qasid_window_in_flight', type: 'gauge', help: 'Requests sent and not yet answered, per session.', labels: ['carrier', 'session'] },
  windowSize: { name: 'qasid_window_size', type: 'gauge', help: 'Configured window per session.', labels: ['carrier', 'session'] },
  reconnects: { name: 'qasid_session_reconnects_total', type: 'counter', help: 'Connections lost, by carrier and reason code (SMPP_ENQUIRE_LINK_TIMEOUT, ...).', labels: ['carrier', 'reason'] },
  breakerState: { name: 'qasid_carrier_breaker_state', type: 'gauge', help: "The carrier's circuit breaker: 0 closed (in routing), 1 open (out of routing after a burst of errors or timeouts), 2 half open (letting probes through).", labels: ['carrier'] },
  pduFaults: { name: 'qasid_carrier_pdu_faults_total', type: 'counter', help: 'PDUs a carrier got wrong that the session survived, by carrier and kind (undecodable, tlv_skipped, stray_response, unexpected).', labels: ['carrier', 'reason'] },
  throttled: { name: 'qasid_throttled_total', type: 'counter', help: 'ESME_RTHROTTLED / ESME_RMSGQFUL answers, by carrier.', labels: ['carrier'] },
  bindSlots: { name: 'qasid_carrier_bind_slots', type: 'gauge', help: "A carrier's bind slots this instance holds (its sessions are a total across instances; the sum over instances is the carrier's sessions).", labels: ['carrier'] },
  bindInstances: { name: 'qasid_carrier_instances', type: 'gauge', help: 'Live instances sharing a carrier\'s bind slots and rate, as this instance last saw them.', labels: ['carrier'] },
  instanceInfo: { name: 'qasid_instance_info', type: 'gauge', help: "Always 1; `consumer` is this instance's name (intake.consumer), under which it holds bind slots and intake entries.", labels: ['consumer'] },
  carrierTps: { name: 'qasid_carrier_tps', type: 'gauge', help: "A carrier's current pacing rate (lowered after throttling), messages per second.", labels: ['carrier'] },
  intakeLag: { name: 'qasid_intake_lag', type: 'gauge', help: 'Intake stream entries not yet read by the consumer group (XINFO GROUPS lag).', labels: [] },
  intakeOldestAge: { name: 'qasid_intake_oldest_age_seconds', type: 'gauge', help: 'Age of the oldest intake entry not yet settled (handled entries leave the stream), from its stream id; 0 when the stream is empty.', labels: [] },
  intakePending: { name: 'qasid_intake_pending', type: 'gauge', help: 'Intake entries read and not yet acknowledged, all consumers.', labels: [] },
  inFlight: { name: 'qasid_messages_in_flight', type: 'gauge', help: 'Messages held in memory by this instance (read, not settled).', labels: [] },
  due: { name: 'qasid_messages_due', type: 'gauge', help: 'Messages deferred or scheduled, waiting in the due set.', labels: [] },
  deadLetters: { name: 'qasid_dead_letters_total', type: 'counter', help: 'Intake entries dead-lettered, by reason.', labels: ['reason'] },
  blocked: { name: 'qasid_blocked_total', type: 'counter', help: 'Messages blocked by policy, by reason.', labels: ['reason'] },
  deferred: { name: 'qasid_deferred_total', type: 'counter', help: 'Messages deferred, by reason.', labels: ['reason'] },
  events: { name: 'qasid_events_total', type: 'counter', help: 'Status events written, by status and whether final.', labels: ['status', 'final'] },
  adminDenied: { name: 'qasid_admin_denied_total', type: 'counter', help: 'Admin API requests denied, by reason (not_allowed, rate_limited_ip, rate_limited_token, no_token, bad_token, insufficient_role, undeclared_route); every one, however the log and audit aggregate them.', labels: ['reason'] },
  resubmits: { name: 'qasid_resubmits_total', type: 'counter', help: 'Messages sent again although an earlier submit may have reached the carrier (after a restart, a takeover, a failed handling, a lapsed lease), by carrier and reason.', labels: ['carrier', 'reason'] },
  auditWrites: { name: 'qasid_audit_writes_total', type: 'counter', help: 'Entries appended to the audit stream by this process, by status: ok, or failed (Redis refused or away, or other appenders kept moving the head); a failed one is an action refused or gone unrecorded.', labels: ['status'] },
  intakeClaimed: { name: 'qasid_intake_claimed_total', type: 'counter', help: 'Intake entries taken over from consumers whose lease ran out.', labels: [] },
} as const;

export type MetricKey = keyof typeof METRICS;
