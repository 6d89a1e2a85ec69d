/**
 * `qasid` command dispatcher. Each subcommand lives in its own module and returns an
 * exit code; nothing here calls process.exit except through the returned code.
 */
import { readFileSync } from 'node:fs';
import { configCommand } from './config.js';
import { simCommand } from './sim.js';
import { runCommand } from './run.js';
import { demoCommand } from './demo.js';
import { sendCommand } from './send.js';
import { tokenCommand } from './token.js';
import { auditCommand } from './audit.js';
import { dncCommand, subscriberCommand } from './subscriber.js';
import { keysCommand } from './keys.js';
import { breachCommand } from './breach.js';

const USAGE = `qasid — SMPP gateway and message-routing daemon

Usage:
  qasid run [--config FILE]        run the daemon (config also from $QASID_CONFIG)
  qasid demo [--messages N]        Redis, two simulated carriers and a gateway: push a mixed batch, print what became of it
  qasid send --to N --from S --text T [--wait [SECONDS]] [--force]
                                   push one message onto the intake stream (qasid send --help for every option)
  qasid sim [options]              run the SMSC simulator (qasid sim --help lists every behaviour)
  qasid config check [FILE]        check a config as \`qasid run\` does at start-up; exit 0 if good, 2 naming every bad key
  qasid config print [FILE]        print the effective config, secrets masked
  qasid token new ROLE [--id ID]   make an admin API token (viewer, operator, admin); config keeps its hash
  qasid token revoke ID            refuse a configured token from now on, on every instance (audited)
  qasid audit verify [--head ID:HASH]
                                   recompute the audit chain and check it reaches its anchored head;
                                   exit 1 naming the first broken entry or the cut
  qasid audit access [--since 1h] [--json]
                                   print the admin access log (one line per admin API request)
  qasid keys new [--hash] [--id ID]
                                   make a key for privacy.keyring (--hash: privacy.hashKeyring), with what to do with it
  qasid keys rotate [--config F]   re-encrypt what Redis holds under the keyring's current key
  qasid subscriber export|erase MSISDN
                                   everything held about a number, as JSON / erase it (objections kept)
  qasid subscriber opt-out|opt-out-remove|consent|consent-withdraw MSISDN …
                                   manage a number's opt-outs and consent (qasid subscriber --help)
  qasid dnc import FILE [--replace]
                                   load a do-not-contact list (e.g. the PTA DNCR export)
  qasid breach report --from T [--to T] [--tenant X] [--key-id K] [--json]
                                   the subscribers (by pseudonym), tenants and key ids whose data
                                   was held in a window, with counts: for a breach notice
  qasid version                    print the version
  qasid help                       this text

keys rotate, dnc import and subscriber export|erase show progress on standard error
(a line redrawn on a terminal, JSON lines elsewhere; --no-progress turns it off).

Exit codes: 0 ok · 1 unexpected error · 2 invalid configuration · 3 start-up failed · 4 Redis unreachable · 64 bad command line`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'run':
      return runCommand(rest);
    case 'demo':
      return demoCommand(rest);
    case 'send':
      return sendCommand(rest);
    case 'sim':
      return simCommand(rest);
    case 'audit':
      return auditCommand(rest);
    case 'subscriber':
      return subscriberCommand(rest);
    case 'dnc':
      return dncCommand(rest);
    case 'token':
      return tokenCommand(rest);
    case 'keys':
      return keysCommand(rest);
    case 'breach':
      return breachCommand(rest);
    case 'config':
      return configCommand(rest);
    case 'version':
    case '--version':
      console.log(version());
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return cmd === undefined ? 64 : 0;
    default:
      console.error(`qasid: unknown command "${cmd}"\n\n${USAGE}`);
      return 64;
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
