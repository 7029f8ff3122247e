// The explicit list of CLI commands (no scanning): add a command by importing it here.
import type { Command } from './command.js';
import { command as importCommand } from './import.js';
import { command as demo } from './demo.js';
import { command as evalCommand } from './eval.js';
import { command as info } from './info.js';
import { command as inspect } from './inspect.js';
import { command as models } from './models.js';
import { command as report } from './report.js';
import { command as retrain } from './retrain.js';
import { command as review } from './review.js';
import { command as score } from './score.js';
import { command as serve } from './serve.js';
import { command as synth } from './synth.js';
import { command as train } from './train.js';
import { command as types } from './types.js';

export const commands: Command[] = [
  importCommand,
  types,
  info,
  synth,
  train,
  evalCommand,
  score,
  retrain,
  models,
  inspect,
  review,
  report,
  demo,
  serve,
];
