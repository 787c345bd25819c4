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
  await waitEvent(page, 'call.reconnected', 20000);
  await listenToCall(page);
  await sleep(2000);
  const after = await heard(page);
  const status = await page.evaluate(() => window.__call.status());
  await page.evaluate(() => window.__call.disconnect());
  await waitEvent(page, 'call.disconnect');
  await page.evaluate(() => window.__device.destroy());
  return { callSid, dropped, reconnecting, heardAfter: after, statusAfterReconnect: status, events: (await events(page)).map((e) => e.what) };
});
