#!/usr/bin/env node
import { runEmperorConsole } from './console.js';
import { runEmperor } from './main.js';

const argv = process.argv.slice(2);
const run =
  argv[0] === 'console'
    ? runEmperorConsole(argv.slice(1)).then((code) => {
        process.exitCode = code;
      })
    : runEmperor(argv);
run.catch((err: unknown) => {
  process.stderr.write(`tsgi-emperor: fatal: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
