/** A CarrierConfig for tests: short timers so failures show in milliseconds, not minutes. */
import type { CarrierConfig, SmppTimers } from '../../src/config/types.js';
import { Secret } from '../../src/core/secret.js';

export interface TestCarrierOverrides extends Partial<Omit<CarrierConfig, 'timers' | 'tls' | 'password'>> {
  timers?: Partial<SmppTimers>;
  tls?: Partial<CarrierConfig['tls']>;
  password?: string;
}

export function testCarrier(port: number, o: TestCarrierOverrides = {}): CarrierConfig {
  const { timers, tls, password, ...rest } = o;
  return {
    id: 'test',
    host: '127.0.0.1',
    port,
    systemId: 'qasid',
    systemType: '',
    interfaceVersion: 0x34,
    bindMode: 'trx',
    sessions: 1,
    window: 10,
    tps: 1000,
    addressing: { sourceTon: 5, sourceNpi: 0, destTon: 1, destNpi: 1, addressRange: '' },
    messageIds: { submitResp: 'verbatim', receipt: 'verbatim', receiptTlv: 'verbatim', receiptText: 'verbatim' },
    concat: 'udh8',
    receiptOnPart: 'last',
    ...rest,
    password: new Secret(password ?? 'secret'),
    tls: { enabled: false, rejectUnauthorized: true, ...tls },
    timers: {
      connectMs: 2000,
      bindMs: 1000,
      responseMs: 500,
      enquireLinkMs: 2000,
      inactivityMs: 5000,
      unbindMs: 500,
      drainMs: 2000,
      reconnectMinMs: 50,
      reconnectMaxMs: 400,
      ...timers,
    },
  };
}
