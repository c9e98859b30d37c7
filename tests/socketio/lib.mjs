// Helpers for wshub's socket.io-client scripts: every wait is for an event,
// bounded by one overall deadline, and every failure exits non-zero.
import { io } from "socket.io-client";

export { io };

export const url = process.argv[2];
if (!url) {
  console.error("usage: node script.mjs http://127.0.0.1:PORT [websocket|polling|default]");
  process.exit(2);
}
// "websocket" or "polling" alone; anything else: the default (polling, then the upgrade).
const only = process.argv[3];
export const transports = only === "websocket" || only === "polling" ? [only] : undefined;
export const defaultTransports = transports === undefined;

// The whole script must finish within this many ms (the Rust test also bounds it).
const deadline = setTimeout(() => fail("timed out"), 20000);

export function fail(why) {
  console.error(`FAIL: ${why}`);
  process.exit(1);
}

export function check(condition, what) {
  if (!condition) fail(what);
  console.log(`ok - ${what}`);
}

/** Resolves with the arguments of the next `event` on `emitter`. */
export function next(emitter, event) {
  return new Promise((resolve) => emitter.once(event, (...args) => resolve(args)));
}

export function done() {
  clearTimeout(deadline);
  console.log("done");
  process.exit(0);
}
