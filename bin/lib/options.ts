// Command-line values of `berth push`: byte sizes ("64MiB", "50MB"), the destination reference
// ([http(s)://]HOST[:PORT]/NAME[:TAG|@DIGEST]) and the source reference (TRANSPORT:PATH[:REF]).

import { PushError } from "./errors.ts";

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** "64MiB" → 67108864, "50MB" → 50000000, "1048576" → 1048576; bare K/M/G are binary (as in dd). */
export function parseSize(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new PushError(`${what}: cannot read ${JSON.stringify(text)} as a size (examples: 6MiB, 50MB, 1048576)`, 2);
  }
  const n = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n)) throw new PushError(`${what}: ${text} is too large`, 2);
  return n;
}

/** 67108864 → "64 MiB"; for messages and the progress display. */
export function formatSize(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export interface Destination {
  /** Scheme, host and port, e.g. http://127.0.0.1:5000 (no path). */
  base: URL;
  /** Repository name, e.g. "cli/big". */
  name: string;
  /** Tag, when the reference names one. */
  tag?: string;
  /** Digest, when the reference is NAME@DIGEST. */
  digest?: string;
}

// The distribution-spec's grammar for repository names and tags.
const NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
export const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$/;

/** Hosts that get plain http without --insecure: localhost and the loopback networks. */
function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h.endsWith(".localhost") || /^127\.\d+\.\d+\.\d+$/.test(h) || h === "::1";
}

export function parseDestination(text: string, insecure: boolean): Destination {
  const bad = (why: string) =>
    new PushError(`destination ${JSON.stringify(text)}: ${why} (expected [http(s)://]HOST[:PORT]/NAME[:TAG])`, 2);
  let rest = text;
  let scheme: string | undefined;
  const sm = /^(https?):\/\//i.exec(rest);
  if (sm) {
    scheme = sm[1]!.toLowerCase();
    rest = rest.slice(sm[0].length);
  } else if (rest.startsWith("docker://")) {
    rest = rest.slice("docker://".length); // skopeo's transport prefix
  }
  const slash = rest.indexOf("/");
  if (slash <= 0) throw bad("no registry host");
  const host = rest.slice(0, slash);
  let path = rest.slice(slash + 1);
  let tag: string | undefined;
  let digest: string | undefined;
  const at = path.indexOf("@");
  if (at >= 0) {
    digest = path.slice(at + 1);
    path = path.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw bad(`${JSON.stringify(digest)} is not a digest`);
  }
  const colon = path.lastIndexOf(":");
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG_RE.test(tag)) throw bad(`${JSON.stringify(tag)} is not a valid tag`);
  }
  if (!NAME_RE.test(path) || path.length > 255) throw bad(`${JSON.stringify(path)} is not a valid repository name`);
  let base: URL;
  try {
    base = new URL(`http://${host}`);
  } catch {
    throw bad(`${JSON.stringify(host)} is not a host[:port]`);
  }
  if (base.pathname !== "/" || base.username || base.search) throw bad(`${JSON.stringify(host)} is not a host[:port]`);
  base.protocol = scheme ?? (insecure || isLoopback(base.hostname) ? "http:" : "https:");
  return { base: new URL(base.origin), name: path, tag, digest };
}

export interface SourceRef {
  transport: "oci" | "docker-archive" | "dir";
  path: string;
  /** The part after the path: a tag (oci), a docker reference or @index (docker-archive). */
  ref?: string;
}

export function parseSource(text: string): SourceRef {
  const colon = text.indexOf(":");
  const transport = colon < 0 ? "" : text.slice(0, colon);
  const rest = colon < 0 ? "" : text.slice(colon + 1);
  if (transport !== "oci" && transport !== "docker-archive" && transport !== "dir") {
    throw new PushError(
      `source ${JSON.stringify(text)}: unknown form (expected oci:DIR[:TAG], docker-archive:FILE[:REF|:@N] or dir:DIR)`,
      2,
    );
  }
  if (transport === "dir") return { transport, path: rest };
  // skopeo splits at the first colon after the transport; a path with a colon cannot carry a reference.
  const c = rest.indexOf(":");
  const path = c < 0 ? rest : rest.slice(0, c);
  const ref = c < 0 ? undefined : rest.slice(c + 1);
  if (path === "") throw new PushError(`source ${JSON.stringify(text)}: no path`, 2);
  return { transport, path, ref: ref === "" ? undefined : ref };
}
