// Shared by the unit tests of pure spec logic: run a function that must throw an OciError and hand the error
// back for its code, status and message to be asserted.
import { expect } from "vitest";
import { OciError } from "../../src/oci/errors";

export function caught(fn: () => unknown): OciError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(OciError);
    return e as OciError;
  }
  throw new Error("expected an OciError, nothing was thrown");
}
