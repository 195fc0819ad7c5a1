// ipsec-keepalive command line: parses arguments and wires the parts together, nothing more.
import { readFileSync } from 'node:fs';
import { ConfigError, DEFAULT_CONFIG_PATH, EX_CONFIG, loadConfig } from '../agent/config/load.js';
import { viciDown } from '../agent/observability/vici-down.js';
import { parseCommandArgs, type CommandArgs } from './args.js';
import { runAgentCommand } from './run.js';
import { runCheck, runDoctor } from './inspect.js';
import { runStatus, UnknownTunnelError } from './status.js';

/** Exit codes (documented in README and --help). */
export const EXIT = {
  OK: 0,
  FAILURE: 1, // check: a probe failed; run: fatal runtime error
  USAGE: 64, // EX_USAGE
  UNAVAILABLE: 69, // EX_UNAVAILABLE: charon's VICI socket could not be reached
  CONFIG: EX_CONFIG, // 78
} as const;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const HELP = `ipsec-keepalive: keeps strongSwan IPsec tunnels up over VICI

Usage: ipsec-keepalive <command> [options]

Commands:
  run       run the agent (event-driven repair, traffic probes, metrics, alerts)
  status    the tunnels as the running agent sees them (or charon, when none runs)
  check     probe every configured target once; exit 1 if any fails
  doctor    compare charon's loaded connections with the recommended hardening (--json)
  validate  read the config file and exit: 0 when valid, 78 with the error (systemctl reload runs it; --json)
  record    record VICI traffic between a client and charon into a fixture file

Options (each command's --help says which it takes):
  -c, --config PATH   config file (default ${DEFAULT_CONFIG_PATH})
      --socket URI    VICI socket, overrides the config (unix:///path or tcp://host:port)
      --json          machine-readable output (status, check, doctor, validate)
  -h, --help          this help
  -V, --version       print the version

Exit codes: 0 ok, 1 failure (check: a probe failed), 64 usage error (any command),
            69 charon's VICI socket unreachable, 78 bad configuration.`;

const COMMAND_HELP: Record<string, string> = {
  run: `Usage: ipsec-keepalive run [-c PATH] [--socket URI]\n\nRuns the agent in the foreground (systemd: Type=notify, with a watchdog). SIGHUP reloads the\nconfig, SIGTERM/SIGINT stop it. Logs JSON lines to stdout (pretty in a terminal; under systemd\neach line carries its syslog priority for journald).`,
  status: `Usage: ipsec-keepalive status [NAME...] [-v] [--json] [-c PATH] [--charon | --socket URI]\n\nThe tunnels as the running agent sees them: status in the agent's words, since when, IKE_SA and\nCHILD_SA, the last probes, backoff and damping, the last repair and charon's reason when it failed.\nIt asks the agent on its status socket (status.socket in the config); when no agent answers, or\nwith --charon or --socket, it reads charon itself and says so. NAME selects tunnels by tunnel or\nCHILD_SA name. -v adds the SA detail (SPIs, traffic selectors, algorithms, counters, lifetimes);\n--json prints the same document /status serves (snake_case keys).\nExit 0 when every selected enabled tunnel is up (or target-down: it passes traffic), 1 when one\nis not, 64 for an unknown NAME.`,
  check: `Usage: ipsec-keepalive check [-c PATH] [--json]\n\nProbes every configured target once, from each tunnel's source address.\nExit 0 when all pass, 1 when any fails.`,
  doctor: `Usage: ipsec-keepalive doctor [-c PATH] [--socket URI] [--json]\n\nReads charon's loaded connections (swanctl.conf or ipsec.conf) and warns where they\ndiffer from the hardening the agent relies on, or risk duplicate CHILD_SAs.\nExit 1 when there is a warning; --json prints the findings as one object.`,
  validate: `Usage: ipsec-keepalive validate [-c PATH] [--json]\n\nReads and checks the config file as \`run\` would, and exits: 0 when it is valid, 78 with a\none-line error naming the field when it is not. \`systemctl reload\` runs it before it signals\nthe agent, so a broken file fails the reload and the running configuration stays.\nWith --json: {"path", "valid", "tunnels", "discover"} or {"path", "valid": false, "error"}.`,
  record: `Usage: ipsec-keepalive record --listen PATH --upstream URI --out FILE\n\nA VICI proxy: point any client at --listen; every byte both ways is written with\ntimestamps to FILE (JSON lines), for replay tests.`,
};

/** `validate`: the config as `run` would read it; with --json the answer (or the error) is one object. */
async function runValidate(opts: CommandArgs): Promise<number> {
  const path = opts.config ?? DEFAULT_CONFIG_PATH;
  if (!opts.json) {
    const cfg = await loadConfig(path);
    console.log(`${cfg.path}: valid (${cfg.tunnels.length} tunnels${cfg.discover ? ', discover' : ''})`);
    return EXIT.OK;
  }
  try {
    const cfg = await loadConfig(path);
    console.log(JSON.stringify({ path: cfg.path, valid: true, tunnels: cfg.tunnels.length, discover: cfg.discover }));
    return EXIT.OK;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.log(JSON.stringify({ path, valid: false, error: err.message }));
    return EXIT.CONFIG;
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    console.log(HELP);
    return command === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (command === '-V' || command === '--version') {
    console.log(version());
    return EXIT.OK;
  }
  if (!(command in COMMAND_HELP)) {
    console.error(`ipsec-keepalive: unknown command ${JSON.stringify(command)} (try --help)`);
    return EXIT.USAGE;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    console.log(COMMAND_HELP[command]);
    return EXIT.OK;
  }
  if (rest.includes('-V') || rest.includes('--version')) {
    console.log(version());
    return EXIT.OK;
  }
  if (command === 'record') {
    const { runRecord } = await import('./record.js');
    return runRecord(rest);
  }
  let values: CommandArgs;
  try {
    values = parseCommandArgs(command, rest);
  } catch (err) {
    console.error(`ipsec-keepalive ${command}: ${(err as Error).message}`);
    return EXIT.USAGE;
  }
  try {
    switch (command) {
      case 'run':
        return await runAgentCommand(values);
      case 'status':
        return await runStatus(values);
      case 'check':
        return await runCheck(values);
      case 'doctor':
        return await runDoctor(values);
      case 'validate':
        return await runValidate(values);
    }
  } catch (err) {
    if (err instanceof UnknownTunnelError) {
      console.error(`ipsec-keepalive status: ${err.message}`);
      return EXIT.USAGE;
    }
    if (err instanceof ConfigError) {
      console.error(`ipsec-keepalive: ${err.message}`);
      return EXIT.CONFIG;
    }
    if (err instanceof Error && err.name === 'ViciConnectionError') {
      const socket = (err as { socket?: string }).socket ?? 'its VICI socket';
      // status may add why it could not ask the agent first (say, its socket's group).
      const also = (err as { also?: string }).also;
      console.error(`ipsec-keepalive: cannot connect to charon at ${socket}: ${viciDown(err).hint}${also ? `; also ${also}` : ''}`);
      return EXIT.UNAVAILABLE;
    }
    console.error(`ipsec-keepalive ${command}: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT.FAILURE;
  }
  return EXIT.USAGE;
}

// Run when executed directly (bin/ or `node dist/cli/main.js`), not when imported by tests.
const invoked = process.argv[1] ?? '';
if (/(?:^|[\\/])(main\.[jt]s|ipsec-keepalive(\.js)?)$/.test(invoked)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(`ipsec-keepalive: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = EXIT.FAILURE;
    },
  );
}
