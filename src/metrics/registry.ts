/**
 * The one Prometheus registry, and the only importer of prom-client. Other modules see
 * plain hook interfaces (SessionObserver, ReceiptMetrics, OutputHooks) and gauges are
 * filled at scrape time from callbacks, so nothing on the hot path touches Redis for them.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { METRICS } from './catalogue.js';

/** What a scrape reads from the running daemon (carrier/session health, Redis gauges). */
export interface ScrapeSources {
  sessions(): Array<{ carrier: string; session: string; inflight: number; windowSize: number }>;
  carrierTps(): Array<{ carrier: string; tps: number }>;
  /** Per carrier: the bind slots this instance holds and the instances sharing them. */
  binds(): Array<{ carrier: string; held: number; instances: number }>;
  /** This instance's name. */
  instance(): string;
  messagesInFlight(): number;
  /** Intake lag, pending, the oldest entry's age (s) and the due-set size; read from Redis at scrape time. */
  queue(): Promise<QueueGauges>;
}

export interface QueueGauges {
  lag: number;
  pending: number;
  oldestAgeSec: number;
  due: number;
}

type L<T extends keyof typeof METRICS> = (typeof METRICS)[T]['labels'][number];

const SESSION_STATES = ['idle', 'connecting', 'binding', 'bound', 'unbinding', 'backoff', 'stopped'] as const;
/** Seconds: SMPP responses are milliseconds on a LAN, seconds when a carrier struggles. */
const SUBMIT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds: handsets answer in seconds to hours. */
const RECEIPT_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400];
/** Seconds: an OTP is late after a few seconds; scheduled and deferred messages take hours. */
const MESSAGE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400];

export class Metrics {
  readonly registry = new Registry();
  readonly submits: Counter<L<'submits'>>;
  readonly submitDuration: Histogram<L<'submitDuration'>>;
  readonly receiptLatency: Histogram<L<'receiptLatency'>>;
  readonly messageLatency: Histogram<L<'messageLatency'>>;
  readonly receiptsReceived: Counter<L<'receiptsReceived'>>;
  readonly receiptsMatched: Counter<L<'receiptsMatched'>>;
  readonly receiptsUnmatched: Counter<L<'receiptsUnmatched'>>;
  readonly receiptsParked: Counter<L<'receiptsParked'>>;
  readonly moWritten: Counter<L<'moWritten'>>;
  readonly moParts: Counter<L<'moParts'>>;
  readonly receiptStates: Counter<L<'receiptStates'>>;
  readonly sessionUp: Gauge<L<'sessionUp'>>;
  readonly sessionState: Gauge<L<'sessionState'>>;
  readonly breakerState: Gauge<L<'breakerState'>>;
  readonly reconnects: Counter<L<'reconnects'>>;
  readonly throttled: Counter<L<'throttled'>>;
  readonly pduFaults: Counter<L<'pduFaults'>>;
  readonly deadLetters: Counter<L<'deadLetters'>>;
  readonly blocked: Counter<L<'blocked'>>;
  readonly deferred: Counter<L<'deferred'>>;
  readonly events: Counter<L<'events'>>;
  readonly adminDenied: Counter<L<'adminDenied'>>;
  readonly resubmits: Counter<L<'resubmits'>>;
  readonly receiptQueries: Counter<L<'receiptQueries'>>;
  readonly intakeClaimed: Counter<L<'intakeClaimed'>>;
  readonly auditWrites: Counter<L<'auditWrites'>>;
  private sources: ScrapeSources | undefined;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const r = [this.registry];
    const counter = <K extends keyof typeof METRICS>(k: K): Counter<L<K>> =>
      new Counter({ name: METRICS[k].name, help: METRICS[k].help, labelNames: [...METRICS[k].labels] as L<K>[], registers: r });
    const histogram = <K extends keyof typeof METRICS>(k: K, buckets: number[]): Histogram<L<K>> =>
      new Histogram({ name: METRICS[k].name, help: METRICS[k].help, labelNames: [...METRICS[k].labels] as L<K>[], buckets, registers: r });
    this.submits = counter('submits');
    this.submitDuration = histogram('submitDuration', SUBMIT_BUCKETS);
    this.receiptLatency = histogram('receiptLatency', RECEIPT_BUCKETS);
    this.messageLatency = histogram('messageLatency', MESSAGE_BUCKETS);
    this.receiptsReceived = counter('receiptsReceived');
    this.receiptsMatched = counter('receiptsMatched');
    this.receiptsUnmatched = counter('receiptsUnmatched');
    this.receiptsParked = counter('receiptsParked');
    this.moWritten = counter('moWritten');
    this.moParts = counter('moParts');
    this.receiptStates = counter('receiptStates');
    this.sessionUp = new Gauge({ name: METRICS.sessionUp.name, help: METRICS.sessionUp.help, labelNames: [...METRICS.sessionUp.labels], registers: r });
    this.sessionState = new Gauge({ name: METRICS.sessionState.name, help: METRICS.sessionState.help, labelNames: [...METRICS.sessionState.labels], registers: r });
    this.breakerState = new Gauge({ name: METRICS.breakerState.name, help: METRICS.breakerState.help, labelNames: [...METRICS.breakerState.labels], registers: r });
    this.reconnects = counter('reconnects');
    this.throttled = counter('throttled');
    this.pduFaults = counter('pduFaults');
    this.deadLetters = counter('deadLetters');
    this.blocked = counter('blocked');
    this.deferred = counter('deferred');
    this.events = counter('events');
    this.adminDenied = counter('adminDenied');
    this.resubmits = counter('resubmits');
    this.receiptQueries = counter('receiptQueries');
    this.intakeClaimed = counter('intakeClaimed');
    this.auditWrites = counter('auditWrites');

    // Gauges read at scrape time (inside collect(), `this` is the gauge).
    const src = (): ScrapeSources | undefined => this.sources;
    // A labelled gauge whose series are recomputed from `rows` at each scrape.
    const scraped = (key: 'windowInFlight' | 'windowSize' | 'carrierTps' | 'bindSlots' | 'bindInstances' | 'instanceInfo', rows: () => Array<[Record<string, string>, number]>): void => {
      new Gauge({
        name: METRICS[key].name,
        help: METRICS[key].help,
        labelNames: [...METRICS[key].labels],
        registers: r,
        collect() {
          this.reset();
          for (const [labels, value] of rows()) this.set(labels, value);
        },
      });
    };
    scraped('windowInFlight', () => (src()?.sessions() ?? []).map((s) => [{ carrier: s.carrier, session: s.session }, s.inflight]));
    scraped('windowSize', () => (src()?.sessions() ?? []).map((s) => [{ carrier: s.carrier, session: s.session }, s.windowSize]));
    scraped('carrierTps', () => (src()?.carrierTps() ?? []).map((c) => [{ carrier: c.carrier }, c.tps]));
    scraped('bindSlots', () => (src()?.binds() ?? []).map((b) => [{ carrier: b.carrier }, b.held]));
    scraped('bindInstances', () => (src()?.binds() ?? []).map((b) => [{ carrier: b.carrier }, b.instances]));
    scraped('instanceInfo', () => {
      const s = src();
      return s ? [[{ consumer: s.instance() }, 1]] : [];
    });
    new Gauge({
      name: METRICS.inFlight.name,
      help: METRICS.inFlight.help,
      registers: r,
      collect() {
        this.set(src()?.messagesInFlight() ?? 0);
      },
    });
    // One Redis read per scrape serves four gauges.
    let queueRead: Promise<QueueGauges> | undefined;
    const queue = (): Promise<QueueGauges> => {
      queueRead ??= (src()?.queue() ?? Promise.resolve({ lag: 0, pending: 0, oldestAgeSec: 0, due: 0 })).finally(() => {
        setImmediate(() => (queueRead = undefined));
      });
      return queueRead;
    };
    for (const [key, field] of [['intakeLag', 'lag'], ['intakePending', 'pending'], ['intakeOldestAge', 'oldestAgeSec'], ['due', 'due']] as const) {
      new Gauge({
        name: METRICS[key].name,
        help: METRICS[key].help,
        registers: r,
        async collect() {
          try {
            this.set((await queue())[field]);
          } catch {
            // Redis unreachable: leave the last value; redis errors are logged elsewhere.
          }
        },
      });
    }
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'qasid_' });
  }

  /** Where scrape-time gauges read from; set once the daemon is built. */
  attach(sources: ScrapeSources): void {
    this.sources = sources;
  }

  /** Session state as a one-hot gauge plus `up`. */
  sessionChanged(carrier: string, session: string, to: string): void {
    for (const s of SESSION_STATES) this.sessionState.set({ carrier, session, state: s }, s === to ? 1 : 0);
    this.sessionUp.set({ carrier, session }, to === 'bound' ? 1 : 0);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
