/**
 * Command-line errors in the commands' own words. node:util's parseArgs reports an unknown
 * flag with advice about positional arguments and `--`, which is about its API, not about
 * the command the operator typed: say what was wrong, show the command's usage line, and
 * point at its --help (exit 64, EX_USAGE).
 */
import { errorMessage } from '../core/errors.js';

export const EX_USAGE = 64;

/** parseArgs' error as a short reason ("unknown option --tx", "--id needs a value"); any other error's message. */
export function usageReason(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  const message = errorMessage(e);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = /^Unknown option '([^']+)'/.exec(message)?.[1];
    return flag === undefined ? 'unknown option' : `unknown option ${flag}`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    // "Option '-c, --config <value>' argument missing", "Option '--json' does not take an argument"
    const flag = /^Option '(?:-[^,' ]+, )?(-{1,2}[^' ]+)/.exec(message)?.[1] ?? 'an option';
    if (/does not take an argument/.test(message)) return `${flag} takes no value`;
    if (/is ambiguous/.test(message)) return `${flag} needs a value; for one that starts with "-", write ${flag}=VALUE`;
    return `${flag} needs a value`;
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const arg = /^Unexpected argument '([^']*)'/.exec(message)?.[1];
    return arg === undefined ? 'unexpected argument' : `unexpected argument "${arg}"`;
  }
  return message;
}

/** The synopsis of a usage text: its lines up to the first blank one. */
export function usageLine(usage: string): string {
  const blank = usage.search(/\n\s*\n/);
  return blank < 0 ? usage : usage.slice(0, blank);
}

/** `qasid <command>: <reason>`, the usage line, and where the rest is. */
export function usageFailure(command: string, e: unknown, usage: string): string {
  return `qasid ${command}: ${usageReason(e)}\n${usageLine(usage)}\nRun qasid ${command} --help for every option.`;
}
