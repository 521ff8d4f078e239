// What a verified blob write needs of a running hash (SHA-256 / SHA-512 over bytes as they stream by):
// workerd's DigestStream in the Worker (digest-stream.ts), Node's crypto in unit tests. Types only, so that
// code type-checked for Node (the tests) can name it without the Workers runtime's globals.

export interface StreamHash {
  update(chunk: Uint8Array): Promise<void>;
  /** Finishes the hash (the object can't be used afterwards). */
  hex(): Promise<string>;
}
