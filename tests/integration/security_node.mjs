// node-redis 5/6 and ioredis 5/6 against a sierradb with users (run by security_test.py from
// tests/integration/clients, where the packages are installed): password and user auth, wrong
// password, NOAUTH before auth, NOPERM, over plain TCP and TLS. One JSON line per check.
// Usage: node security_node.mjs <port> <tls_port> <ca.crt>
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(path.join(process.cwd(), 'package.json'));
const [port, tlsPort, caFile] = process.argv.slice(2);
const ca = readFileSync(caFile);
const report = (name, ok, detail = '') => console.log(JSON.stringify({ name, ok, detail: String(detail).slice(0, 200) }));
const timeout = (p, ms = 10000) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), ms))]);

function nodeRedis(pkg) {
  const { createClient } = require(pkg);
  return {
    async open(tls, auth) {
      const socket = { host: '127.0.0.1', port: Number(tls ? tlsPort : port), reconnectStrategy: false };
      if (tls) Object.assign(socket, { tls: true, ca });
      const c = createClient({ socket, ...auth });
      c.on('error', () => {});
      await timeout(c.connect());
      return c;
    },
    call: (c, args) => timeout(c.sendCommand(args)),
    close: async (c) => { try { if (c.isOpen) await c.close(); } catch { /* closed */ } },
  };
}
function ioredis(pkg, hello2) {
  const Redis = require(pkg).default ?? require(pkg);
  return {
    async open(tls, auth) {
      const c = new Redis({
        host: '127.0.0.1', port: Number(tls ? tlsPort : port), lazyConnect: true,
        enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null,
        ...(tls ? { tls: { ca } } : {}), ...auth,
      });
      lastErrors = [];
      c.on('error', (e) => lastErrors.push(e.message));
      if (hello2) c.on('connect', () => c.call('HELLO', '2').catch(() => {}));
      await timeout(c.connect());
      return c;
    },
    call: (c, args) => timeout(c.call(...args)),
    close: async (c) => { c.disconnect(); },
  };
}

const libs = [
  ['node-redis 5', nodeRedis('redis5')],
  ['node-redis 6', nodeRedis('redis6')],
  ['ioredis 5', ioredis('ioredis5', true)],
  ['ioredis 6', ioredis('ioredis6', false)],
];
let lastErrors = [];  // ioredis reports a failed AUTH on its 'error' event, then closes
const str = (x) => (Buffer.isBuffer(x) ? x.toString() : String(x));

async function expectError(name, fn, want) {
  try {
    const r = await fn();
    report(name, false, 'no error: ' + str(r));
  } catch (e) {
    const msg = [e.message, ...lastErrors].join(' / ');
    report(name, msg.includes(want), msg);
  }
}

for (const [label, lib] of libs) {
  for (const tls of [false, true]) {
    const p = `${label} ${tls ? 'tls' : 'plain'}: `;
    let c;
    try {
      c = await lib.open(tls, { password: 'secret' });
      report(p + 'password', str(await lib.call(c, ['ACL', 'WHOAMI'])) === 'default');
      await lib.close(c);
      c = await lib.open(tls, { username: 'admin', password: 'adminpw' });
      report(p + 'user', str(await lib.call(c, ['ACL', 'WHOAMI'])) === 'admin');
      await lib.close(c);
      await expectError(p + 'wrong password', async () => {
        const w = await lib.open(tls, { username: 'admin', password: 'nope' });
        try {
          return await lib.call(w, ['ACL', 'WHOAMI']);
        } catch (e) {
          throw new Error([e.message, ...lastErrors].join(' / '));
        } finally { await lib.close(w); }
      }, 'WRONGPASS');
      c = await lib.open(tls, {});
      await expectError(p + 'NOAUTH', () => lib.call(c, ['ESVER', 's']), 'NOAUTH');
      await lib.close(c);
      c = await lib.open(tls, { username: 'reader', password: 'readpw' });
      await expectError(p + 'NOPERM read-only append', () => lib.call(c, ['EAPPEND', 's1', 'E']),
        "NOPERM User reader has no permissions to run the 'eappend' command");
      await lib.close(c);
      c = await lib.open(tls, { username: 'orders', password: 'orderspw' });
      await expectError(p + 'NOPERM other prefix', () => lib.call(c, ['EAPPEND', 'pay-1', 'E']),
        'NOPERM No permissions to access a key');
      await lib.close(c);
    } catch (e) {
      report(p + 'unexpected', false, e.stack);
      if (c) await lib.close(c);
    }
  }
}
process.exit(0);
