// The little PEM and DER that validating key settings needs. jose imports keys and certificates (http/auth/
// keys.ts), but only asynchronously and only once told the algorithm; settings are validated synchronously at
// startup, and the algorithm follows from the key. So this reads just far enough to know what a setting
// holds: a PKCS#8 key's algorithm, and a certificate's SubjectPublicKeyInfo and its algorithm. The DER reader
// handles definite lengths only (which is all DER allows); every read is bounds-checked, so malformed input
// throws Error and never reads past the end.

interface Tlv {
  tag: number;
  off: number;
  start: number;
  end: number;
}

function tlv(b: Uint8Array, off: number, limit = b.length): Tlv {
  if (off + 2 > limit) throw new Error("truncated DER");
  const tag = b[off]!;
  if ((tag & 0x1f) === 0x1f) throw new Error("unsupported DER tag");
  let len = b[off + 1]!;
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) throw new Error("bad DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p++]!;
  }
  if (p + len > limit) throw new Error("truncated DER");
  return { tag, off, start: p, end: p + len };
}

function children(b: Uint8Array, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = t.start; p < t.end; ) {
    const c = tlv(b, p, t.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

function hex(b: Uint8Array, t: Tlv): string {
  let s = "";
  for (let i = t.start; i < t.end; i++) s += b[i]!.toString(16).padStart(2, "0");
  return s;
}

const OID_RSA = "2a864886f70d010101";
const OID_EC = "2a8648ce3d0201";
const CURVES: Record<string, string> = { "2a8648ce3d030107": "P-256", "2b81040022": "P-384", "2b81040023": "P-521" };

/** What a key is, as far as choosing its JWS algorithm goes. */
export type KeyType = { kty: "RSA" } | { kty: "EC"; crv: string };

/** Reads an AlgorithmIdentifier: RSA, or EC with a named curve Berth supports. */
function keyType(b: Uint8Array, algId: Tlv): KeyType {
  const [oid, params] = children(b, algId);
  if (!oid || oid.tag !== 0x06) throw new Error("bad AlgorithmIdentifier");
  const o = hex(b, oid);
  if (o === OID_RSA) return { kty: "RSA" };
  if (o === OID_EC && params?.tag === 0x06) {
    const crv = CURVES[hex(b, params)];
    if (crv) return { kty: "EC", crv };
    throw new Error("unsupported elliptic curve (use P-256, P-384 or P-521)");
  }
  throw new Error("unsupported key algorithm (use EC or RSA)");
}

/** The SubjectPublicKeyInfo of an X.509 certificate, and its key type. */
export function certificateSpki(der: Uint8Array): { spki: Uint8Array; type: KeyType } {
  const cert = tlv(der, 0);
  const [tbs] = children(der, cert);
  if (cert.tag !== 0x30 || tbs?.tag !== 0x30) throw new Error("not a certificate");
  const f = children(der, tbs);
  const i = f[0]?.tag === 0xa0 ? 1 : 0; // optional explicit [0] version
  const spki = f[i + 5];
  if (spki?.tag !== 0x30) throw new Error("certificate without a public key");
  const [algId] = children(der, spki);
  if (!algId) throw new Error("bad SubjectPublicKeyInfo");
  return { spki: der.slice(spki.off, spki.end), type: keyType(der, algId) };
}

/** The key type of a PKCS#8 PrivateKeyInfo. */
export function pkcs8Type(der: Uint8Array): KeyType {
  const [, algId] = children(der, tlv(der, 0));
  if (!algId || algId.tag !== 0x30) throw new Error("not a PKCS#8 private key");
  return keyType(der, algId);
}

export interface PemBlock {
  label: string;
  der: Uint8Array;
  /** The block again, normalised (one base64 line): what jose's PEM importers take. */
  pem: string;
}

function base64Bytes(s: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new Error("bad base64");
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

/** PEM blocks in order, read line by line (no regex over the whole text). */
export function pemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  let label: string | null = null;
  let body = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const begin = /^-----BEGIN ([A-Z0-9 ]+)-----$/.exec(line);
    const end = /^-----END ([A-Z0-9 ]+)-----$/.exec(line);
    if (begin) {
      label = begin[1]!;
      body = "";
    } else if (end && label !== null) {
      if (end[1] !== label) throw new Error(`PEM block BEGIN ${label} ends with END ${end[1]}`);
      body = body.replace(/\s+/g, "");
      out.push({ label, der: base64Bytes(body), pem: `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n` });
      label = null;
    } else if (label !== null) {
      body += line;
    }
  }
  if (label !== null) throw new Error(`PEM block ${label} has no END line`);
  return out;
}
