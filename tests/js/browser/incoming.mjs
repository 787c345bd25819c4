// An incoming call placed through the control API. Args: {signaling, control, token, identity,
// mode: "accept"|"reject"|"ignore", callerHz, toneHz, timeoutSecs}.
// accept: audio both ways, then the caller hangs up → disconnect. reject: the caller's leg
// ends. ignore: nothing is sent; the caller gives up → cancel.
import { scenario, sdkPage, deviceOptions, waitEvent, events, listenToCall, heard, control, waitForCalls, sleep } from './lib.mjs';

scenario(async (args, b, log) => {
  const { page } = await sdkPage(b, { toneHz: args.toneHz, log });
  await page.evaluate(async ({ token, options }) => {
    const device = new Twilio.Device(token, options);
    window.__device = device;
    window.__watchDevice(device);
    await device.register();
  }, { token: args.token, options: deviceOptions(args) });
  const started = await control(args, 'POST', '/v1/calls', {
    from: '+15551230000',
    to: `client:${args.identity}`,
    caller: { kind: 'tone', hz: args.callerHz },
    timeout_secs: args.timeoutSecs,
    params: [['greeting', 'hello there']],
  });
  const t0 = Date.now();
  const incoming = await waitEvent(page, 'device.incoming');
  const incomingAfterMs = Date.now() - t0;
  const result = { callSid: started.call_sid, incoming, incomingAfterMs };
  if (args.mode === 'accept') {
    await page.evaluate(() => { window.__call = window.__incoming; window.__call.accept(); });
    await waitEvent(page, 'call.accept');
    await listenToCall(page);
    await sleep(2500);
    result.heard = await heard(page);
    await control(args, 'POST', `/v1/calls/${started.call_sid}/hangup`, {});
    await waitEvent(page, 'call.disconnect');
  } else if (args.mode === 'reject') {
    await page.evaluate(() => window.__incoming.reject());
    await waitEvent(page, 'call.reject');
    result.call = await waitForCalls(args, (calls) => calls.find((c) => c.sid === started.call_sid && c.phase === 'ended'), 'the caller leg to end');
  } else {
    await page.evaluate(() => window.__incoming.ignore());
    await waitEvent(page, 'call.cancel', (args.timeoutSecs + 10) * 1000);
    result.cancelAfterMs = Date.now() - t0;
  }
  result.status = await page.evaluate(() => window.__incoming.status());
  await page.evaluate(() => window.__device.destroy());
  result.events = await events(page);
  return result;
});
