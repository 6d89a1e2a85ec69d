/**
 * The one place that turns redis.url and redis.tls into ioredis connection options, so
 * the daemon's connections and every CLI command reach Redis the same way.
 *
 * For a rediss:// URL the TLS options are always set explicitly (ioredis enables TLS only
 * for a lower-case `rediss://` prefix and would otherwise take Node's defaults):
 * the CA file replaces the system CAs, the client certificate and key are presented when
 * Redis asks (tls-auth-clients), `servername` is the name the server certificate must
 * carry (default: the URL's host), and verification stays on unless switched off.
 * For redis:// there is nothing to add. Files are read at each call, so a client built
 * after a certificate was renewed on disk presents the new one.
 *
 * redisClient() also works around an ioredis gap: it listens for its socket's 'error'
 * only once per connection (redis/ioredis#961), and a TLS socket can report two — the
 * failed handshake, then the peer's alert when the client is closed right after (App
 * start-up closing both connections when one is refused). The second would be an
 * uncaught exception; each TLS socket the client opens keeps one more listener for it.
 *
 * redisConnection() builds the client of the configured topology (redis.topology):
 * the standalone server at redis.url (as redisClient), the master that Redis Sentinel
 * names, or a Redis Cluster; in the last two redis.url lends its user, password, db and
 * TLS to every node — rediss:// means TLS to the sentinels as well as to the master and
 * its replicas, with the same redis.tls — and the same socket guard covers every node's
 * sockets. Without redis.tls.servername each connection checks the certificate against
 * the address it dials: a sentinel's or startup node's as configured (a Cluster keeps the
 * configured host name rather than resolving it first, so a certificate for the name
 * verifies), a master's or a cluster node's as Redis announces it (often an IP address).
 *
 * ioredis reports a topology it cannot reach without the reason when the reason is the
 * socket's (a refused certificate): a Cluster's "Failed to refresh slots cache." and
 * "None of startup nodes is available", Sentinel's "All sentinels are unreachable. ...
 * Last error: Connection is closed.". redisConnection() keeps the last socket error of
 * the nodes and sentinels and puts it into those messages (see withCause()).
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisNode, RedisTls, RedisTopology } from '../config/types.js';
import type { Secret } from '../core/secret.js';
import { QasidError, errorMessage } from '../core/errors.js';

/** What a connection needs from the config's `redis` section. */
export interface RedisEndpoint {
  url: Secret;
  tls: RedisTls;
}

/** Whether `url` asks for TLS (rediss://, any case). */
export function isTlsUrl(url: string): boolean {
  try {
    return new URL(url).protocol === 'rediss:';
  } catch {
    return false;
  }
}

/**
 * ioredis options for connecting to `url` (by default `redis.url`; a command line's
 * --redis may name another server, which then gets the same TLS settings). Spread them
 * first and add the caller's own (lazyConnect, retries, connectionName) after.
 * Throws CONFIG_INVALID naming the key when a TLS file cannot be read.
 */
export function redisClientOptions(redis: RedisEndpoint, url: string = redis.url.reveal()): RedisOptions {
  if (!isTlsUrl(url)) return {};
  const t = redis.tls;
  const tls: ConnectionOptions = { rejectUnauthorized: t.rejectUnauthorized };
  if (t.caFile !== '') tls.ca = readPem('caFile', t.caFile);
  if (t.certFile !== '') tls.cert = readPem('certFile', t.certFile);
  if (t.keyFile !== '') tls.key = readPem('keyFile', t.keyFile);
  if (t.servername !== '') tls.servername = t.servername;
  return { tls };
}

function readPem(name: 'caFile' | 'certFile' | 'keyFile', path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    // The path only: never the file's content.
    const why = (e as NodeJS.ErrnoException).code ?? errorMessage(e);
    throw new QasidError('CONFIG_INVALID', `redis.tls.${name}: cannot read '${path}': ${why}`, { key: `redis.tls.${name}` }, { cause: e });
  }
}

/**
 * A client for `url` (by default `redis.url`) with the options of redisClientOptions and
 * then the caller's own; for TLS, with every socket's later errors handled (see above).
 */
export function redisClient(redis: RedisEndpoint, options: RedisOptions, url: string = redis.url.reveal()): Redis {
  const client = new Redis(url, { ...redisClientOptions(redis, url), ...options });
  if (isTlsUrl(url)) guardTlsSockets(client);
  return client;
}

/** Every TLS socket `client` opens keeps a listener for the errors ioredis no longer hears (see above). */
function guardTlsSockets(client: Redis): void {
  const guarded = new WeakSet<object>();
  // 'connecting' is emitted before the socket exists; one turn of the event loop later it
  // does, and no TLS handshake can have failed yet (that takes the server's answer).
  client.on('connecting', () =>
    setImmediate(() => {
      const socket = client.stream as NodeJS.EventEmitter | undefined;
      if (socket === undefined || guarded.has(socket)) return;
      guarded.add(socket);
      // The first error reaches ioredis (and the client's 'error' event) as before.
      socket.on('error', () => undefined);
    }),
  );
}

/** A connection to Redis, whichever the topology: a Cluster speaks the same commands, keys in one slot per command. */
export type RedisConn = Redis | Cluster;

/** What redisConnection() needs from the config's `redis` section (all of it, but the prefix). */
export interface RedisTopologyEndpoint extends RedisEndpoint {
  topology: RedisTopology;
  sentinels: readonly RedisNode[];
  sentinelName: string;
  sentinelPassword: Secret;
  cluster: { nodes: readonly RedisNode[] };
}

/** The user, password and db that redis.url's userinfo and path give (ioredis' own reading of a URL). */
export function urlCredentials(url: string): Pick<RedisOptions, 'username' | 'password' | 'db'> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return {};
  }
  const out: Pick<RedisOptions, 'username' | 'password' | 'db'> = {};
  if (u.username !== '') out.username = decodeURIComponent(u.username);
  if (u.password !== '') out.password = decodeURIComponent(u.password);
  const db = u.pathname.replace(/^\//, '');
  if (/^[0-9]+$/.test(db)) out.db = Number(db);
  return out;
}

/**
 * Options that belong to the Cluster itself, not to its node connections (ClusterOptions):
 * the offline queue and lazy connect are the cluster's, and its retryStrategy (reconnect
 * after every node was lost) is clusterRetryStrategy. Everything else goes to each node.
 */
const CLUSTER_LEVEL = ['lazyConnect', 'enableAutoPipelining', 'autoPipeliningIgnoredCommands', 'enableOfflineQueue', 'enableReadyCheck', 'scripts'] as const;

/**
 * The client of redis.topology with `options` (lazyConnect, maxRetriesPerRequest,
 * connectionName, enableAutoPipelining...):
 * - standalone: redisClient() for redis.url;
 * - sentinel: a Redis that asks redis.sentinels for the master `sentinelName` at each
 *   (re)connect and follows a failover (ioredis reconnects when the old master closes the
 *   connection, or when the sentinel announces +switch-master), authenticated with
 *   redis.url's user/password/db; with rediss:// TLS to the sentinels and the master
 *   (sentinelTLS, tls, enableTLSForSentinelMode). A retryStrategy given (a CLI command's:
 *   no retries) is also the sentinels' own, so one round of refusals ends the attempt;
 * - cluster: a Cluster from redis.cluster.nodes, reads and writes on masters only
 *   (scaleReads 'master': a replica may lag behind a script's write), each node
 *   authenticated and TLS-wrapped as redis.url says.
 * Throws CONFIG_INVALID naming the key when a TLS file cannot be read.
 */
export function redisConnection(redis: RedisTopologyEndpoint, options: RedisOptions): RedisConn {
  if (redis.topology === 'standalone') return redisClient(redis, options);
  const url = redis.url.reveal();
  const tls = redisClientOptions(redis, url).tls;
  const auth = urlCredentials(url);
  if (redis.topology === 'sentinel') {
    const sentinelPassword = redis.sentinelPassword.reveal();
    const client = new Redis({
      ...auth,
      ...options,
      sentinels: redis.sentinels.map((n) => ({ host: n.host, port: n.port })),
      name: redis.sentinelName,
      ...(sentinelPassword === '' ? {} : { sentinelPassword }),
      ...(typeof options.retryStrategy === 'function' ? { sentinelRetryStrategy: options.retryStrategy } : {}),
      ...(tls === undefined ? {} : { tls, sentinelTLS: tls, enableTLSForSentinelMode: true }),
    });
    if (tls !== undefined) guardTlsSockets(client);
    keepSentinelCause(client);
    return client;
  }
  const { retryStrategy, ...rest } = options;
  const clusterLevel: ClusterOptions = {};
  const nodeLevel: Record<string, unknown> = { ...auth, ...rest };
  for (const key of CLUSTER_LEVEL) {
    if (rest[key] === undefined) continue;
    Object.assign(clusterLevel, { [key]: rest[key] });
    delete nodeLevel[key];
  }
  // ioredis sends SELECT for any db it is given, which a cluster refuses (the config allows only 0).
  delete nodeLevel['db'];
  const cluster = new Cluster(
    redis.cluster.nodes.map((n) => ({ host: n.host, port: n.port })),
    {
      ...clusterLevel,
      scaleReads: 'master',
      ...(retryStrategy === undefined ? {} : { clusterRetryStrategy: retryStrategy }),
      // ioredis resolves the startup nodes' host names to addresses before it connects, and
      // TLS would then check the certificate against the address: keep the name (as for
      // a standalone server; Node resolves it when it dials).
      ...(tls === undefined ? {} : { dnsLookup: keepHostName }),
      redisOptions: { ...(nodeLevel as NonNullable<ClusterOptions['redisOptions']>), ...(tls === undefined ? {} : { tls }) },
    },
  );
  if (tls !== undefined) cluster.on('+node', (node: Redis) => guardTlsSockets(node));
  keepClusterCause(cluster);
  return cluster;
}

/** ioredis' message for a command whose connection went away (utils CONNECTION_CLOSED_ERROR_MSG). */
const CONNECTION_CLOSED = 'Connection is closed.';

function keepHostName(host: string, callback: (err: Error | null, address: string) => void): void {
  callback(null, host);
}

/** `message` with the socket error that explains it: "… (last node error: …)". */
function withCause(message: string, cause: Error | undefined, label: string): string {
  if (cause === undefined || message.includes(cause.message)) return message;
  const code = (cause as NodeJS.ErrnoException).code;
  return `${message} (${label}: ${cause.message}${code === undefined || cause.message.includes(code) ? '' : ` [${code}]`})`;
}

/**
 * A Cluster that reaches no node says "Failed to refresh slots cache." (its 'error') and
 * "None of startup nodes is available" (connect() rejected), and its nodes' CLUSTER SLOTS
 * failed with "Connection is closed."; why is known only to the connection that asked —
 * a duplicate() of the node ("refresher") whose errors ioredis drops. The last socket
 * error of a node or its duplicates is added to both messages.
 */
function keepClusterCause(cluster: Cluster): void {
  let last: Error | undefined;
  const remember = (e: Error): void => {
    // A command failing with "Connection is closed." follows the socket's own error: keep that.
    if (e.message !== CONNECTION_CLOSED) last = e;
  };
  cluster.on('node error', remember);
  cluster.on('+node', (node: Redis) => {
    const duplicate = node.duplicate.bind(node);
    node.duplicate = (...args: Parameters<Redis['duplicate']>) => {
      const copy = duplicate(...args);
      copy.on('error', remember);
      return copy;
    };
  });
  // First in line, so every other listener (the daemon's log, a CLI's message) sees the cause.
  cluster.prependListener('error', (e: Error) => {
    if (/^Failed to refresh slots cache/.test(e.message)) e.message = withCause(e.message, last, 'last node error');
  });
  cluster.on('ready', () => {
    last = undefined;
  });
  const connect = cluster.connect.bind(cluster);
  cluster.connect = () =>
    connect().catch((e: unknown) => {
      if (e instanceof Error) e.message = withCause(e.message, last, 'last node error');
      throw e;
    });
}

/** The parts of ioredis' SentinelConnector that keepSentinelCause() wraps (not public API). */
interface SentinelInternals {
  connectToSentinel?: (endpoint: unknown, options?: unknown) => Redis;
  resolve?: (endpoint: unknown) => Promise<unknown>;
}

/**
 * ioredis asks each sentinel for the master through a client of its own whose errors it
 * drops, and then reports "Last error: Connection is closed." — a sentinel that refused
 * the handshake (an untrusted certificate) is not named as the reason. This keeps that
 * client's last socket error and gives it as the sentinel's failure instead. If ioredis'
 * internals ever differ, the client is left as it is (the message merely less precise).
 */
function keepSentinelCause(client: Redis): void {
  const connector = (client as unknown as { connector?: SentinelInternals }).connector;
  if (connector === undefined) return;
  const { connectToSentinel, resolve } = connector;
  if (typeof connectToSentinel !== 'function' || typeof resolve !== 'function') return;
  let last: Error | undefined;
  connector.connectToSentinel = (endpoint, options) => {
    const sentinel = connectToSentinel.call(connector, endpoint, options);
    sentinel.on('error', (e: Error) => {
      if (e.message !== CONNECTION_CLOSED) last = e;
    });
    return sentinel;
  };
  connector.resolve = async (endpoint) => {
    last = undefined;
    try {
      return await resolve.call(connector, endpoint);
    } catch (e) {
      if (e instanceof Error && last !== undefined) e.message = withCause(e.message, last, 'sentinel error');
      throw e;
    }
  };
}

/**
 * The client for the configured topology, typed as ioredis' Redis, which every module is
 * written against. A Cluster client answers the same commands, `defineCommand` scripts
 * and auto-pipelined calls — what the modules use: every script's keys share one hash
 * slot (test/integration/script-slots.test.ts), explicit pipelines stay within one slot,
 * and key scans go through scanKeys() (queue/scan.ts), which visits every master.
 * A `url` other than redis.url (a command line's --redis) is a standalone server.
 */
export function redisFor(redis: RedisEndpoint | RedisTopologyEndpoint, options: RedisOptions, url: string = redis.url.reveal()): Redis {
  if (!('topology' in redis) || redis.topology === 'standalone' || url !== redis.url.reveal()) return redisClient(redis, options, url);
  return redisConnection(redis, options) as unknown as Redis;
}
