// Command-line arguments of the verbs that read a config: which options each verb takes, and the
// one-line usage errors (exit 64) for everything else, before anything is read or connected.
import { parseArgs } from 'node:util';
import { parseViciUri } from '../vici/uri.js';

export interface CommandArgs {
  config?: string;
  socket?: string;
  json?: boolean;
  verbose?: boolean;
  /** status only: read charon directly, not the running agent. */
  charon?: boolean;
  /** status only: the tunnels to show. */
  names?: string[];
}

type OptionName = 'config' | 'socket' | 'json' | 'verbose' | 'charon';

const OPTION_FLAGS: Record<OptionName, string> = {
  config: '-c/--config',
  socket: '--socket',
  json: '--json',
  verbose: '-v/--verbose',
  charon: '--charon',
};

/** What each verb accepts; an option outside its list is a usage error that names the list. */
const ACCEPTS: Record<string, { options: readonly OptionName[]; positionals: boolean; why?: Partial<Record<OptionName, string>> }> = {
  run: { options: ['config', 'socket'], positionals: false, why: { json: 'run logs JSON lines already' } },
  status: { options: ['config', 'socket', 'json', 'verbose', 'charon'], positionals: true },
  check: { options: ['config', 'json'], positionals: false, why: { socket: 'check probes through the tunnels and does not talk to charon' } },
  doctor: { options: ['config', 'socket', 'json'], positionals: false },
  validate: { options: ['config', 'json'], positionals: false, why: { socket: 'validate reads only the config file' } },
};

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Why `uri` cannot be a VICI socket, or undefined when it can. Stricter than the client: no bare paths. */
export function socketUriProblem(uri: string): string | undefined {
  const expected = 'expected unix:///path or tcp://host:port, e.g. unix:///var/run/charon.vici';
  if (!uri.startsWith('unix:///') && !uri.startsWith('tcp://')) return `--socket ${JSON.stringify(uri)}: ${expected}`;
  try {
    parseViciUri(uri);
  } catch {
    return `--socket ${JSON.stringify(uri)}: ${expected}`;
  }
  return undefined;
}

/** Parses a verb's arguments; throws UsageError with one line (without the program name). */
export function parseCommandArgs(command: string, args: string[]): CommandArgs {
  const accepts = ACCEPTS[command];
  if (!accepts) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      options: {
        config: { type: 'string', short: 'c' },
        socket: { type: 'string' },
        json: { type: 'boolean' },
        verbose: { type: 'boolean', short: 'v' },
        charon: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: accepts.positionals,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  for (const name of Object.keys(OPTION_FLAGS) as OptionName[]) {
    if (values[name] === undefined || accepts.options.includes(name)) continue;
    const why = accepts.why?.[name];
    const takes = accepts.options.map((o) => OPTION_FLAGS[o]).join(', ');
    throw new UsageError(`${OPTION_FLAGS[name]} does not apply to ${command}${why ? ` (${why})` : ''}; it takes ${takes}`);
  }
  const out: CommandArgs = {};
  if (typeof values['config'] === 'string') out.config = values['config'];
  if (typeof values['socket'] === 'string') {
    const problem = socketUriProblem(values['socket']);
    if (problem) throw new UsageError(problem);
    out.socket = values['socket'];
  }
  if (values['json'] === true) out.json = true;
  if (values['verbose'] === true) out.verbose = true;
  if (values['charon'] === true) out.charon = true;
  if (accepts.positionals) out.names = positionals;
  return out;
}
