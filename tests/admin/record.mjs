// Shared by the admin UI scripts (protocol.mjs, cluster.mjs).

// Everything an admin socket hears, in order, and waits on it.
export function record(socket) {
  const log = [];
  const waiting = [];
  socket.onAny((...event) => {
    log.push(event);
    for (const w of waiting.splice(0)) if (!w(event)) waiting.push(w);
  });
  // The first event (past or to come) that `matches`.
  log.until = (matches, what) =>
    new Promise((resolve) => {
      const found = log.find(matches);
      if (found) return resolve(found);
      waiting.push((event) => (matches(event) ? (resolve(event), true) : false));
    }).then((event) => (what && console.log(`ok - ${what}`), event));
  return log;
}
