/**
 * The catalogue of log event codes. Every notable log line carries `event: CODE`.
 * Codes are stable: never renamed, never reused. The README's table is generated
 * from this list (see `qasid events`).
 */
export const LOG_EVENTS = {
  // process
  'process.start': 'the daemon is starting',
  'process.ready': 'every component started',
  'process.stop': 'shutdown began',
  'process.exit': 'shutdown finished',
  'config.invalid': 'configuration rejected at boot',
  'routes.reloaded': 'the route table was re-read and swapped in (SIGHUP)',
  'routes.reload_failed': 'a route table reload was refused; the running table stays',
  // SMPP sessions
  'session.state': 'a session changed state (from -> to)',
  'session.bound': 'a bind succeeded',
  'session.bind_failed': 'a bind was rejected or timed out',
  'session.closed': 'a session connection closed, with the reason',
  'session.reconnect_scheduled': 'a reconnect is scheduled after backoff',
  'session.request_timeout': 'a request got no response before its deadline',
  'session.protocol_error': 'the peer sent bytes that are not valid SMPP; the session is recycled',
  'session.inflight_returned': 'in-flight requests were handed back when a session closed',
  'session.peer_unbind': 'the SMSC asked to unbind',
  'session.generic_nack': 'the SMSC answered generic_nack; at most one line per 10 s with a suppressed count',
  'session.late_response': 'a response came after its request had timed out; handed back to the caller',
  'session.unexpected_pdu': 'a request the session does not handle (answered generic_nack), or a response that answers no request in flight (unknown sequence number, or one of a request of another command: ignored); at most one line per 10 s with a suppressed count',
  'session.undecodable_pdu': 'a PDU whose framing is intact but whose body cannot be decoded; answered or settled by its header, the session carries on; at most one line per 10 s with a suppressed count',
  'session.tlv_skipped': 'a PDU carried TLVs that cannot be read as their type (wrong length, past its end); they were left out and the rest used; at most one line per 10 s with a suppressed count',
  'session.write_stalled': 'the socket did not drain in time',
  'link.started': 'a carrier link started its sessions',
  'link.stopped': 'a carrier link stopped and unbound its sessions',
  // message path
  'intake.dead_lettered': 'an intake entry could not be used and went to the dead-letter stream',
  'intake.duplicate': 'an intake entry repeated a client id already handled; not sent again',
  'intake.claimed': 'entries held by a consumer whose lease ran out were taken over',
  'intake.lease_wait': 'at start, the consumer name was still leased (a process that did not stop cleanly); waiting for the lease to run out',
  'intake.lease_lost': 'another instance took this consumer name: its pending entries are no longer ours',
  'intake.lease_lapsed': 'the consumer lease ran out before it was renewed (a stall, or Redis away); others may have taken over entries',
  'intake.group_recreated': 'the intake consumer group was missing (Redis restarted empty, failover) and was created again',
  'carrier.breaker': "a carrier's circuit breaker changed state (from, to, why): open takes it out of routing for its cool-down, half open lets probes through, closed puts it back",
  'dispatch.failover': 'a carrier could not take a message, or gave it a temporary error that moves it on (carriers[].failoverAfter, submitErrors failover); the next carrier on the route is tried',
  'dispatch.resubmit': 'a message whose earlier submit may have reached the carrier (restart, takeover, retry, lapsed lease) is sent again; counted in qasid_resubmits_total',
  'dispatch.gave_up': 'an intake entry whose handling kept failing was ended for good (failed or dead-lettered internal_error)',
  'dispatch.event_recovered': 'a final event a crash cut off was written from its record',
  'dispatch.error': 'handling a message failed unexpectedly; its entry stays pending and is tried again',
  'receipt.parked': 'a receipt arrived before its submit_sm_resp was recorded; parked until it is',
  'receipt.unparseable': 'a receipt had no usable id or state; acknowledged and dropped; at most one line per carrier per 10 s with a suppressed count',
  'receipt.never_matched': 'parked receipts whose park time ran out without a mapping for their id; counted unmatched (never_matched) and dropped',
  'mo.undecodable': 'an MO message text could not be decoded',
  'redis.error': 'a Redis connection reported an error (it reconnects by itself)',
  'redis.keys_migrated': 'keys written by an older version were moved to the current key layout at start-up (counts per kind)',
  'carrier.paused': 'an operator took a carrier out of routing (binds stay up)',
  'carrier.resumed': 'an operator put a paused carrier back into routing',
  'admin.denied': 'admin API requests were denied (reason, route, method, address, count): the first of an address and reason at once, the rest summed once a minute',
  'admin.audit_failed': 'denied admin requests could not be written to the audit stream; the admin.denied line stands',
  'admin.access_log_failed': 'admin access log lines could not be written (reason write_failed: Redis refused or is away; buffer_full: too many waiting) and are lost; the requests themselves were answered; at most one line per reason per 10 s with a suppressed count',
  'admin.request_failed': 'an admin API request failed unexpectedly: answered 500 internal_error, the detail only in this line',
  // privacy
  'policy.blocked': 'a message was blocked by policy (opt_out, dnc, blocklist, no_consent, frequency_cap, with the window that was full); masked number and keyed hash only',
  'subscriber.opted_out': 'an MO opt-out keyword (STOP …) opted its sender out of that short code',
  'subscriber.opted_in': 'an MO opt-in keyword (START …) undid an opt-out',
  'keys.reloaded': 'the keyrings were re-read (SIGHUP); new data goes under the current key',
  'keys.reload_failed': 'a keyring reload was refused; the running keys stay',
  'privacy.undecryptable': 'a stored message needs a key no longer in the keyring; it ends failed',
  'retention.trimmed': 'the retention sweeper trimmed old stream entries',
  'retention.failed': 'a retention trim failed; the next pass retries',
  // simulator
  'sim.listening': 'the SMSC simulator is listening',
  'sim.session': 'the simulator accepted or lost a connection',
} as const;

export type LogEvent = keyof typeof LOG_EVENTS;
