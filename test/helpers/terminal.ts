import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './tsgi.js';

/**
 * A terminal driven as a person would: a private tmux server (its own socket in `dir`, so closing it
 * touches nobody else's), keys in, screen text out.
 */
export class Terminal {
  private readonly sock: string;

  constructor(
    protected readonly dir: string,
    cols = 120,
    rows = 30,
    command = 'sh',
  ) {
    // A fresh socket per terminal: a server still shutting down never meets the next one.
    this.sock = join(mkdtempSync(join(dir, 'tmux-')), 'tmux.sock');
    this.tmux('new-session', '-d', '-s', 'main', '-x', String(cols), '-y', String(rows), command);
  }

  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-S', this.sock, ...args], { timeout: 10_000 }).toString();
  }

  /** The visible screen, one string per row. */
  screen(): string {
    return this.tmux('capture-pane', '-p', '-t', 'main');
  }

  keys(...keys: string[]): void {
    this.tmux('send-keys', '-t', 'main', ...keys);
  }

  /** Run a shell command line in the pane (typed, then Enter). */
  type(line: string): void {
    this.keys('-l', line);
    this.keys('Enter');
  }

  async waitScreen(pred: (s: string) => boolean, what: string, timeoutMs = 10_000): Promise<string> {
    let last = '';
    await waitFor(
      () => {
        last = this.screen();
        return pred(last);
      },
      timeoutMs,
      `${what}; screen:\n${last}`,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- last screen ---\n${this.screen()}`);
    });
    return last;
  }

  /** Stop this terminal's own tmux server (and whatever runs in it). */
  close(): void {
    try {
      this.tmux('kill-server');
    } catch {}
  }
}
