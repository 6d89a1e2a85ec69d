/**
 * One thing wrong with the configuration, named by its exact key path
 * (`carriers[1].timers.enquireLinkMs`), and the error that carries them all.
 * Messages never contain a secret value: they name keys, env var names and paths.
 */
import { QasidError } from '../core/errors.js';

export interface ConfigProblem {
  /** Key path in the config: `log.level`, `carriers[0].tls.caFile`; `file` for the file itself. */
  key: string;
  /** Why, in words an operator can act on. */
  message: string;
  /** CONFIG_SECRET_MISSING when a secret could not be read from env or file. */
  code: 'CONFIG_INVALID' | 'CONFIG_SECRET_MISSING';
}

export function problem(key: string, message: string, code: ConfigProblem['code'] = 'CONFIG_INVALID'): ConfigProblem {
  return { key, message, code };
}

/**
 * Every problem in one error, so an operator fixes the file in one pass. The code is
 * CONFIG_SECRET_MISSING only when every problem is a missing secret (a deployment
 * fault rather than a bad file); both codes mean "fail".
 */
export function configError(problems: readonly ConfigProblem[], file?: string): QasidError {
  const code = problems.every((p) => p.code === 'CONFIG_SECRET_MISSING') ? 'CONFIG_SECRET_MISSING' : 'CONFIG_INVALID';
  const where = file === undefined ? '' : ` (${file})`;
  const lines = problems.map((p) => `  ${p.key}: ${p.message}`);
  const message = `configuration is invalid${where}:\n${lines.join('\n')}`;
  return new QasidError(code, message, {
    key: problems[0]?.key,
    ...(file === undefined ? {} : { file }),
    problems: problems.map((p) => ({ key: p.key, message: p.message, code: p.code })),
  });
}
