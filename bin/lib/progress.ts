// Progress output of `berth push` on stderr: a bar per blob redrawn in place when stderr is a terminal
// (bytes sent / total, rate), plain one-line messages otherwise, and nothing but errors with --quiet.

import { formatSize } from "./options.ts";

export interface Output {
  /** A line of information (not shown with --quiet). */
  info(line: string): void;
  /** A new bar for one blob. */
  bar(label: string, total: number): Bar;
}

export interface Bar {
  /** Bytes the registry holds or that are on their way: may go back after a failed chunk. */
  update(done: number): void;
  /** Ends the bar with a final line. */
  finish(line: string): void;
}

const REDRAW_MS = 100;
const WIDTH = 24;

/** The bar being redrawn, if any (one at a time: blobs go up one after another). */
let live: TtyBar | null = null;

/** Ends a bar cut short by an error with a newline, so the error message gets a line of its own. */
export function interruptBar(): void {
  if (live) live.interrupt();
  live = null;
}

export function createOutput(stream: NodeJS.WriteStream, quiet: boolean): Output {
  const tty = stream.isTTY === true;
  const write = (line: string) => {
    if (live) live.clear();
    stream.write(`${line}\n`);
    live?.draw(true);
  };
  return {
    info: (line) => {
      if (!quiet) write(line);
    },
    bar: (label, total) => {
      if (quiet) return { update: () => {}, finish: () => {} };
      if (!tty) return { update: () => {}, finish: (line) => write(line) };
      const b = new TtyBar(stream, label, total, () => {
        live = null;
      });
      live = b;
      b.draw(true);
      return b;
    },
  };
}

class TtyBar implements Bar {
  private readonly stream: NodeJS.WriteStream;
  private readonly label: string;
  private readonly total: number;
  private readonly onDone: () => void;
  private readonly started = Date.now();
  private done = 0;
  private lastDraw = 0;
  private finished = false;

  constructor(stream: NodeJS.WriteStream, label: string, total: number, onDone: () => void) {
    this.stream = stream;
    this.label = label;
    this.total = total;
    this.onDone = onDone;
  }

  update(done: number): void {
    this.done = done;
    this.draw(false);
  }

  clear(): void {
    this.stream.write("\r\x1b[K");
  }

  draw(force: boolean): void {
    const now = Date.now();
    if (this.finished || (!force && now - this.lastDraw < REDRAW_MS)) return;
    this.lastDraw = now;
    const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const filled = Math.round(frac * WIDTH);
    const secs = (now - this.started) / 1000;
    const rate = secs > 0.2 ? `${formatSize(this.done / secs)}/s` : "";
    const line = `${this.label} [${"=".repeat(filled)}${" ".repeat(WIDTH - filled)}] ${String(Math.floor(frac * 100)).padStart(3)}% ${formatSize(this.done)}/${formatSize(this.total)} ${rate}`;
    const cols = this.stream.columns || 100;
    this.stream.write(`\r\x1b[K${line.slice(0, Math.max(20, cols - 1))}`);
  }

  interrupt(): void {
    if (this.finished) return;
    this.finished = true;
    this.stream.write("\n");
  }

  finish(line: string): void {
    if (this.finished) return;
    this.finished = true;
    this.clear();
    this.stream.write(`${line}\n`);
    this.onDone();
  }
}
