// The error codes a client can be told: exactly the distribution-spec's error-code table (code-1 … code-14),
// so no answer carries one of Distribution's extensions (RANGE_INVALID and the like); a fault of the registry
// is a RegistryFault, a 500, and stays one across Durable Object RPC.
import { describe, expect, expectTypeOf, it, vi } from "vitest";
import { FAULT_CODE, OCI_ERROR_CODES, OciError, RegistryFault, type OciErrorCode } from "../../src/oci/errors";
import { Serial, unwrap } from "../../src/oci/rpc";

// Copied from the spec's "Error Codes" section (spec.md on main after v1.1.1), in its order.
const SPEC_TABLE = [
  ["code-1", "BLOB_UNKNOWN"],
  ["code-2", "BLOB_UPLOAD_INVALID"],
  ["code-3", "BLOB_UPLOAD_UNKNOWN"],
  ["code-4", "DIGEST_INVALID"],
  ["code-5", "MANIFEST_BLOB_UNKNOWN"],
  ["code-6", "MANIFEST_INVALID"],
  ["code-7", "MANIFEST_UNKNOWN"],
  ["code-8", "NAME_INVALID"],
  ["code-9", "NAME_UNKNOWN"],
  ["code-10", "SIZE_INVALID"],
  ["code-11", "UNAUTHORIZED"],
  ["code-12", "DENIED"],
  ["code-13", "UNSUPPORTED"],
  ["code-14", "TOOMANYREQUESTS"],
] as const;
type SpecCode = (typeof SPEC_TABLE)[number][1];

describe("OciError codes", () => {
  it("are the spec's table, no more and no fewer", () => {
    expect([...OCI_ERROR_CODES]).toEqual(SPEC_TABLE.map(([, code]) => code));
    // The type too, so that widening it apart from the list fails the typecheck.
    expectTypeOf<OciErrorCode>().toEqualTypeOf<SpecCode>();
  });

  it("the fault code is not one of them, and a fault is no OciError", () => {
    expect(OCI_ERROR_CODES as readonly string[]).not.toContain(FAULT_CODE);
    const fault = new RegistryFault("storage down");
    expect(fault).not.toBeInstanceOf(OciError);
    expect(fault.status).toBe(500);
  });
});

describe("across RPC", () => {
  it("an OciError comes back as the OciError it was; anything else as a RegistryFault with the object's message", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const serial = new Serial("test object", "internal error in the test object");
    const refused = await serial.run(async () => {
      throw new OciError("BLOB_UPLOAD_INVALID", "no", { status: 416, headers: { Range: "0-9" } });
    });
    const e = catchOf(() => unwrap(refused));
    expect(e).toBeInstanceOf(OciError);
    expect(e).toMatchObject({ code: "BLOB_UPLOAD_INVALID", status: 416, headers: { Range: "0-9" } });

    const broken = await serial.run(async () => {
      throw new Error("disk on fire");
    });
    const f = catchOf(() => unwrap(broken));
    expect(f).toBeInstanceOf(RegistryFault);
    expect(f).not.toBeInstanceOf(OciError);
    expect(f.message).toBe("internal error in the test object");
  });
});

function catchOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a throw");
}
