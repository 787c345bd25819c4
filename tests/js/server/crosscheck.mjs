// Cross-checks offhook-server against twilio-node, Twilio's own helper library.
//
// Usage: node tests/js/server/crosscheck.mjs <token|signature>  < request.json  > answer.json
//
// token:     mints an Access Token with twilio's AccessToken for the same inputs and clock
//            as the Rust server, verifies the Rust token's signature with the JWT library
//            twilio-node itself uses, and returns both decoded.
// signature: computes X-Twilio-Signature with twilio.getExpectedTwilioSignature for each
//            case (a case may bring its own authToken), and checks the Rust signatures with
//            twilio.validateRequest.
//
// Driven by server/tests/node_crosscheck.rs; it prints one JSON object and exits 0, or
// prints the problem to stderr and exits 1.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const twilio = require('twilio');
// The JWT library twilio-node signs with, resolved the way twilio-node resolves it.
const jsonwebtoken = createRequire(require.resolve('twilio'))('jsonwebtoken');

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function decode(token) {
  const { header, payload } = jsonwebtoken.decode(token, { complete: true });
  return { header, payload };
}

function verifies(token, secret, now) {
  try {
    jsonwebtoken.verify(token, secret, { algorithms: ['HS256'], clockTimestamp: now });
    return { ok: true };
  } catch (e) {
    return { ok: false, error: String(e.message) };
  }
}

function token(input) {
  const { accountSid, apiKey, apiSecret, identity, ttl, iat, appSid, rustToken } = input;
  // AccessToken and jsonwebtoken take "now" from Date.now(); pin it to the Rust clock.
  const realNow = Date.now;
  Date.now = () => iat * 1000;
  let nodeToken;
  try {
    const { AccessToken } = twilio.jwt;
    const at = new AccessToken(accountSid, apiKey, apiSecret, { identity, ttl });
    at.addGrant(new AccessToken.VoiceGrant({ incomingAllow: true, outgoingApplicationSid: appSid }));
    nodeToken = at.toJwt();
  } finally {
    Date.now = realNow;
  }
  return {
    twilioVersion: require('twilio/package.json').version,
    nodeToken,
    node: decode(nodeToken),
    rust: decode(rustToken),
    rustVerified: verifies(rustToken, apiSecret, iat + 1),
    rustVerifiedWithWrongSecret: verifies(rustToken, apiSecret + 'x', iat + 1),
  };
}

// [[name, value], …] → the object Express hands twilio-node (repeated names → arrays).
function paramsObject(pairs) {
  const params = {};
  for (const [name, value] of pairs) {
    if (!(name in params)) params[name] = value;
    else if (Array.isArray(params[name])) params[name].push(value);
    else params[name] = [params[name], value];
  }
  return params;
}

function signature(input) {
  const { authToken, cases } = input;
  return {
    cases: cases.map(({ url, params, rustSignature, authToken: caseToken }) => {
      const key = caseToken ?? authToken;
      const p = paramsObject(params);
      return {
        signature: twilio.getExpectedTwilioSignature(key, url, p),
        rustSignatureValid: twilio.validateRequest(key, rustSignature, url, p),
      };
    }),
  };
}

const modes = { token, signature };
const mode = modes[process.argv[2]];
if (!mode) {
  process.stderr.write(`usage: crosscheck.mjs <${Object.keys(modes).join('|')}>\n`);
  process.exit(1);
}
try {
  process.stdout.write(JSON.stringify(mode(await readStdin())) + '\n');
} catch (e) {
  process.stderr.write(`crosscheck.mjs ${process.argv[2]}: ${e.stack || e}\n`);
  process.exit(1);
}
