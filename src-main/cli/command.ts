// The shape every CLI command file exports. main.ts dispatches on `name`, parses options with
// node:util parseArgs, prints `help` for --help, and turns thrown DefectScopeErrors into a
// one-line reason and a non-zero exit.
import type { ParseArgsConfig } from 'node:util';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

export interface CliContext {
  /** Standard output for results (tables, JSON). */
  out: (line: string) => void;
  /** Standard error for progress and warnings. */
  err: (line: string) => void;
  /** True when stderr is a terminal, so progress may redraw one line. */
  interactive: boolean;
}

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Full --help text: usage line, then options. */
  help: string;
  options: OptionSpec;
  /** Resolves to the process exit code. */
  run(args: ParsedArgs, ctx: CliContext): Promise<number>;
}
