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
  'session.generic_nack': 'the SMSC answered generic_nack',
  'session.late_response': 'a response came after its request had timed out; handed back to the caller',
  'session.unexpected_pdu': 'a PDU arrived that the session does not handle',
  'session.write_stalled': 'the socket did not drain in time',
  'link.started': 'a carrier link started its sessions',
  'link.stopped': 'a carrier link stopped and unbound its sessions',
  // message path
  'intake.dead_lettered': 'an intake entry could not be used and went to the dead-letter stream',
  'intake.duplicate': 'an intake entry repeated a client id already handled; not sent again',
  'intake.claimed': 'entries held by a dead consumer were taken over',
  'dispatch.failover': 'a carrier could not take a message; the next carrier on the route is tried',
  'dispatch.resubmit': 'a message whose submit outcome was never recorded (crash) is sent again',
  'dispatch.event_recovered': 'a final event a crash cut off was written from its record',
  'dispatch.error': 'handling a message failed unexpectedly; its entry stays pending',
  'receipt.parked': 'a receipt arrived before its submit_sm_resp was recorded; parked until it is',
  'receipt.unparseable': 'a receipt had no usable id or state; acknowledged and dropped',
  'mo.undecodable': 'an MO message text could not be decoded',
  'redis.error': 'a Redis connection reported an error (it reconnects by itself)',
  'carrier.paused': 'an operator took a carrier out of routing (binds stay up)',
  'carrier.resumed': 'an operator put a paused carrier back into routing',
  // privacy
  'policy.blocked': 'a message was blocked by policy (opt_out, dnc, blocklist, no_consent, frequency_cap); masked number and keyed hash only',
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
