#!/usr/bin/env node
import { runEmperor } from './main.js';

runEmperor(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`tsgi-emperor: fatal: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
