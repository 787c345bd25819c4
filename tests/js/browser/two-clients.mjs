// Two browsers calling each other through the TwiML app's <Dial><Client>: audio both ways and
// a call message each way. Args: {signaling, control, alice: {token, identity, toneHz},
// bob: {token, identity, toneHz}}.
import { scenario, sdkPage, deviceOptions, waitEvent, events, listenToCall, heard, control, sleep } from './lib.mjs';

async function register(page, args, who) {
  await page.evaluate(async ({ token, options }) => {
    const device = new Twilio.Device(token, options);
    window.__device = device;
    window.__watchDevice(device);
    await device.register();
  }, { token: who.token, options: deviceOptions(args) });
}

scenario(async (args, b, log) => {
  const alice = (await sdkPage(b, { toneHz: args.alice.toneHz, log })).page;
  const bob = (await sdkPage(b, { toneHz: args.bob.toneHz, log })).page;
  await register(alice, args, args.alice);
  await register(bob, args, args.bob);
  await alice.evaluate(async (to) => {
    window.__call = await window.__device.connect({ params: { To: to, topic: 'lab test' } });
    window.__watchCall(window.__call);
  }, args.bob.identity);
  const incoming = await waitEvent(bob, 'device.incoming');
  await bob.evaluate(() => { window.__call = window.__incoming; window.__call.accept(); });
  await waitEvent(bob, 'call.accept');
  await waitEvent(alice, 'call.accept');
  await listenToCall(alice);
  await listenToCall(bob);
  await sleep(2500);
  const aliceHeard = await heard(alice);
  const bobHeard = await heard(bob);
  // Messages: each client sends one (acked by the lab), and the lab sends one to each.
  const aliceSid = await alice.evaluate(() => window.__call.parameters.CallSid);
  const bobSid = await bob.evaluate(() => window.__call.parameters.CallSid);
  await alice.evaluate(() => window.__call.sendMessage({ content: { from: 'alice' }, messageType: 'user-defined-message' }));
  await bob.evaluate(() => window.__call.sendMessage({ content: { from: 'bob' }, messageType: 'user-defined-message' }));
  const aliceSent = await waitEvent(alice, 'call.messageSent');
  const bobSent = await waitEvent(bob, 'call.messageSent');
  await control(args, 'POST', `/v1/legs/${bobSid}/messages`, { content: { to: 'bob' } });
  await control(args, 'POST', `/v1/legs/${aliceSid}/messages`, { content: { to: 'alice' } });
  const bobReceived = await waitEvent(bob, 'call.messageReceived');
  const aliceReceived = await waitEvent(alice, 'call.messageReceived');
  await alice.evaluate(() => window.__call.disconnect());
  await waitEvent(bob, 'call.disconnect');
  for (const p of [alice, bob]) await p.evaluate(() => window.__device.destroy());
  return {
    incoming,
    aliceSid,
    bobSid,
    aliceHeard,
    bobHeard,
    aliceSent,
    bobSent,
    aliceReceived,
    bobReceived,
    aliceEvents: (await events(alice)).map((e) => e.what),
    bobEvents: (await events(bob)).map((e) => e.what),
  };
});
