// A minimal tar index for `docker save` archives: walks the headers (ustar, GNU long names, PAX paths and
// sizes, base-256 sizes) and records where each member's bytes start, so layers stream straight from the
// archive without being extracted. Symbolic and hard links inside the archive are followed.

import { closeSync, openSync, readSync } from "node:fs";
import path from "node:path";
import { PushError } from "./errors.ts";

export interface TarEntry {
  name: string;
  /** Typeflag: "0" file, "1" hard link, "2" symlink, "5" directory, ... */
  type: string;
  /** Offset of the member's data in the archive. */
  offset: number;
  size: number;
  linkname: string;
}

const BLOCK = 512;

function cstr(buf: Buffer, start: number, len: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString("utf8", start, end < 0 || end > start + len ? start + len : end);
}

function numeric(buf: Buffer, start: number, len: number): number {
  if (buf[start]! & 0x80) {
    // base-256 (GNU) for values that do not fit in octal
    let n = buf[start]! & 0x7f;
    for (let i = start + 1; i < start + len; i++) n = n * 256 + buf[i]!;
    return n;
  }
  const s = cstr(buf, start, len).trim();
  return s === "" ? 0 : parseInt(s, 8);
}

function normalize(name: string): string {
  let n = path.posix.normalize(name);
  while (n.startsWith("./")) n = n.slice(2);
  if (n.startsWith("/")) n = n.slice(1);
  return n.endsWith("/") ? n.slice(0, -1) : n;
}

/** Parses PAX records "LEN key=value\n". */
function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    if (sp < 0) break;
    const len = parseInt(data.toString("ascii", pos, sp), 10);
    if (!(len > 0)) break;
    const rec = data.toString("utf8", sp + 1, pos + len - 1);
    const eq = rec.indexOf("=");
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    pos += len;
  }
  return out;
}

export class TarIndex {
  readonly file: string;
  readonly entries = new Map<string, TarEntry>();

  constructor(file: string) {
    this.file = file;
    let fd: number;
    try {
      fd = openSync(file, "r");
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new PushError(`docker-archive:${file}: cannot open: ${err.code === "ENOENT" ? "no such file" : err.message}`);
    }
    try {
      this.read(fd);
    } finally {
      closeSync(fd);
    }
  }

  private read(fd: number): void {
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax: Record<string, string> = {};
    const readData = (offset: number, size: number): Buffer => {
      if (size > 1 << 20) throw new PushError(`docker-archive:${this.file}: oversized tar metadata`);
      const b = Buffer.alloc(size);
      readSync(fd, b, 0, size, offset);
      return b;
    };
    for (;;) {
      const n = readSync(fd, header, 0, BLOCK, pos);
      if (n < BLOCK || header.every((b) => b === 0)) break;
      let sum = 0;
      for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
      if (sum !== numeric(header, 148, 8)) throw new PushError(`docker-archive:${this.file}: not a tar file (bad header at byte ${pos})`);
      const type = String.fromCharCode(header[156]! || 0x30);
      let size = numeric(header, 124, 12);
      const dataAt = pos + BLOCK;
      if (type === "L" || type === "K" || type === "x") {
        const data = readData(dataAt, size);
        if (type === "L") longName = cstr(data, 0, data.length);
        else if (type === "K") longLink = cstr(data, 0, data.length);
        else pax = paxRecords(data);
      } else if (type !== "g") {
        let name = cstr(header, 0, 100);
        const prefix = header.toString("ascii", 257, 262) === "ustar" ? cstr(header, 345, 155) : "";
        if (prefix) name = `${prefix}/${name}`;
        name = pax.path ?? longName ?? name;
        const linkname = pax.linkpath ?? longLink ?? cstr(header, 157, 100);
        if (pax.size !== undefined) size = Number(pax.size);
        this.entries.set(normalize(name), { name: normalize(name), type, offset: dataAt, size, linkname });
        longName = longLink = undefined;
        pax = {};
      }
      pos = dataAt + Math.ceil(size / BLOCK) * BLOCK;
    }
  }

  /** The regular file at `name`, following links; null when absent. */
  lookup(name: string): TarEntry | null {
    let e = this.entries.get(normalize(name));
    for (let hops = 0; e && hops < 16; hops++) {
      if (e.type === "0" || e.type === "7") return e;
      if (e.type === "2") e = this.entries.get(normalize(path.posix.join(path.posix.dirname(e.name), e.linkname)));
      else if (e.type === "1") e = this.entries.get(normalize(e.linkname));
      else return null;
    }
    return null;
  }

  /** The bytes of a small member (manifest.json, a config). */
  readSmall(entry: TarEntry): Buffer {
    if (entry.size > 64 << 20) throw new PushError(`docker-archive:${this.file}: ${entry.name} is too large to be metadata`);
    const fd = openSync(this.file, "r");
    try {
      const b = Buffer.alloc(entry.size);
      readSync(fd, b, 0, entry.size, entry.offset);
      return b;
    } finally {
      closeSync(fd);
    }
  }
}
