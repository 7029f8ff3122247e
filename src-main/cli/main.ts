// `defectscope <command>`: parses the command line, dispatches to one file per command, and
// turns errors into a one-line reason with a non-zero exit code.
import { parseArgs } from 'node:util';
import { DefectScopeError, errorMessage } from '../shared/errors.js';
import type { CliContext, Command } from './command.js';
import { commands } from './commands.js';

const usage = [
  'Usage: defectscope <command> [options]',
  '',
  'Commands:',
  ...commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`),
  '',
  'Run `defectscope <command> --help` for the options of one command.',
].join('\n');

export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    ctx.out(usage);
    return name ? 0 : 2;
  }
  if (name === '--version') {
    ctx.out('0.1.0');
    return 0;
  }
  const command: Command | undefined = commands.find((c) => c.name === name);
  if (!command) {
    ctx.err(`defectscope: unknown command '${name}'. Run \`defectscope --help\` for the list.`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    ctx.err(`defectscope ${name}: ${errorMessage(error)}. Run \`defectscope ${name} --help\`.`);
    return 2;
  }
  if (parsed.values.help) {
    ctx.out(command.help);
    return 0;
  }
  try {
    return await command.run(parsed, ctx);
  } catch (error) {
    if (error instanceof DefectScopeError) {
      ctx.err(`defectscope ${name}: ${error.message}`);
      return error.code === 'bad-argument' || error.code === 'not-found' ? 2 : 1;
    }
    ctx.err(`defectscope ${name}: unexpected error: ${errorMessage(error)}`);
    if (process.env.DEFECTSCOPE_DEBUG) console.error(error);
    return 1;
  }
}

const isEntry =
  process.argv[1] !== undefined && /(?:defectscope(?:\.js)?|main\.ts)$/.test(process.argv[1]);
if (isEntry) {
  const ctx: CliContext = {
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
    interactive: Boolean(process.stderr.isTTY),
  };
  const code = await runCli(process.argv.slice(2), ctx);
  // A finished command ends the process even if the engine left worker threads (the threaded
  // wasm backend's pool) holding the event loop open; long-running commands never get here.
  process.stderr.write('', () => process.stdout.write('', () => process.exit(code)));
}
