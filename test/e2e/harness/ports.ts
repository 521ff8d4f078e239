// Free TCP ports on 127.0.0.1 for the servers the e2e harness and tests start, so several test runs, or a
// developer's `npm start`, can coexist on one machine. The code is shared with `npm start` and the benchmark
// (scripts/lib/stack.mjs): random ports in 20000-32000, below Linux's ephemeral range, bounded search.
export { freePort, freePortBlock, isPortFree } from "../../../scripts/lib/stack.mjs";
