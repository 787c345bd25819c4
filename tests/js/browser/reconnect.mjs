// A dropped socket during a call: reconnecting, then reconnected, audio still flowing.
// Args: {signaling, control, token, identity, to, toneHz}.
import { scenario, sdkPage, deviceOptions, waitEvent, events, listenToCall, heard, control, sleep } from './lib.mjs';

scenario(async (args, b, log) => {
  const { page } = await sdkPage(b, { toneHz: args.toneHz, log });
  await page.evaluate(async ({ token, options, to }) => {
    const device = new Twilio.Device(token, options);
    window.__device = device;
    window.__watchDevice(device);
    window.__call = await device.connect({ params: { To: to } });
    window.__watchCall(window.__call);
  }, { token: args.token, options: deviceOptions(args, { maxCallSignalingTimeoutMs: 30000 }), to: args.to });
  await waitEvent(page, 'call.accept');
  const callSid = await page.evaluate(() => window.__call.parameters.CallSid);
  await sleep(1000);
  const dropped = await control(args, 'POST', '/v1/faults/close-socket', { identity: args.identity, close_frame: false });
  const reconnecting = await waitEvent(page, 'call.reconnecting');
  try {
    await waitEvent(page, 'call.reconnected', 20000);
  } catch (e) {
    // Show what both sides saw.
    const conns = await control(args, 'GET', '/v1/connections');
    const frames = conns.map((c) => ({ id: c.id, closed: c.closed_unix_ms, frames: c.frames.map((f) => `${f.direction} ${f.kind} ${f.text.slice(0, 160)}`) }));
    throw new Error(`${e.message}\nevents: ${JSON.stringify(await events(page))}\nlab: ${JSON.stringify(frames)}`);
  }
  await listenToCall(page);
  await sleep(2000);
  const after = await heard(page);
  const status = await page.evaluate(() => window.__call.status());
  await page.evaluate(() => window.__call.disconnect());
  await waitEvent(page, 'call.disconnect');
  await page.evaluate(() => window.__device.destroy());
  return { callSid, dropped, reconnecting, heardAfter: after, statusAfterReconnect: status, events: (await events(page)).map((e) => e.what) };
});
