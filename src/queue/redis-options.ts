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
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisTls } from '../config/types.js';
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
  if (isTlsUrl(url)) {
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
  return client;
}
