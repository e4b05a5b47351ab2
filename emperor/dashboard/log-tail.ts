/** Longest line kept, characters (longer lines are cut and marked with `…`). */
const MAX_LINE = 2000;

/** One line of a vassal's output, numbered from 1 per vassal (so a client asks for what follows). */
export interface TailLine {
  readonly n: number;
  readonly text: string;
}

/**
 * The last lines of each vassal's stdout and stderr, in the emperor's memory: at most `keep` lines per
 * vassal. Chunks are split on newlines; a partial line waits for its end (or for `flush`).
 */
export class LogTails {
  private readonly tails = new Map<string, { lines: TailLine[]; partial: string; next: number }>();
  private readonly listeners = new Set<(vassal: string, line: TailLine) => void>();

  constructor(private readonly keep: number) {}

  /** Add output of vassal `name`; every complete line is kept and passed to the listeners. */
  push(name: string, chunk: string): void {
    let t = this.tails.get(name);
    if (!t) {
      t = { lines: [], partial: '', next: 1 };
      this.tails.set(name, t);
    }
    const parts = (t.partial + chunk).split('\n');
    t.partial = parts.pop()!.slice(0, MAX_LINE * 2);
    for (const raw of parts) {
      const text = raw.length > MAX_LINE ? `${raw.slice(0, MAX_LINE)}…` : raw.replace(/\r$/, '');
      const line = { n: t.next++, text };
      t.lines.push(line);
      if (t.lines.length > this.keep) t.lines.shift();
      for (const l of this.listeners) l(name, line);
    }
  }

  /** The kept lines of `name` numbered above `after`, oldest first. */
  lines(name: string, after = 0): TailLine[] {
    return (this.tails.get(name)?.lines ?? []).filter((l) => l.n > after);
  }

  /** Forget every vassal not in `names` (removed from the emperor). */
  retain(names: ReadonlySet<string>): void {
    for (const n of this.tails.keys()) if (!names.has(n)) this.tails.delete(n);
  }

  /** Call `fn` for each new line; returns the function that stops it. */
  subscribe(fn: (vassal: string, line: TailLine) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
