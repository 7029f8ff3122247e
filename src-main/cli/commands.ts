// The explicit list of CLI commands (no scanning): add a command by importing it here.
import type { Command } from './command.js';

export const commands: Command[] = [];
