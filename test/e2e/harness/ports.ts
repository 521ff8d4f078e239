// Finds free TCP ports on 127.0.0.1 for the servers the e2e harness starts (Swift, wrangler dev),
// so several test runs, or a developer's `npm start`, can coexist on one machine.
import net from "node:net";

/** True when nothing listens on 127.0.0.1:port (we could bind it ourselves just now). */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host: "127.0.0.1", port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

// Below Linux's default ephemeral range (32768-60999), so outgoing connections of other processes
// are unlikely to grab a port between our probe and the server's bind.
const LOW = 20000;
const HIGH = 32000;

/**
 * Returns the first port of `count` consecutive free ports, chosen at random (random, not sequential,
 * so parallel runs don't all race for the same numbers). Bounded: gives up after 200 attempts.
 */
export async function freePortBlock(count = 1): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = LOW + Math.floor(Math.random() * (HIGH - LOW - count));
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await isPortFree(base + i);
    if (ok) return base;
  }
  throw new Error(`no block of ${count} free ports found on 127.0.0.1 in ${LOW}-${HIGH}`);
}

/** One free port. */
export function freePort(): Promise<number> {
  return freePortBlock(1);
}
