// Launches one headless Chromium for many scenario scripts and prints its Playwright endpoint
// as one JSON line: {"ws":"ws://127.0.0.1:PORT/…"}. Exits (closing the browser) when stdin
// closes, so it never outlives the test process that started it.
import { launchServer } from './lib.mjs';

const server = await launchServer();
process.stdout.write(JSON.stringify({ ws: server.wsEndpoint() }) + '\n');

let closing = false;
async function close() {
  if (closing) return;
  closing = true;
  await server.close().catch(() => {});
  process.exit(0);
}
process.stdin.on('end', close);
process.stdin.on('close', close);
process.stdin.resume();
process.on('SIGTERM', close);
process.on('SIGINT', close);
