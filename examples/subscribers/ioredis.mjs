// A SierraDB subscriber written with ioredis (v5 or v6): follows one stream and every
// partition live with blocking reads (docs/CLIENTS.md, "Following events"), acknowledging each
// event by saving its position as a checkpoint once it is handled, so a restart of either side
// resumes after the last handled event (the client reissues its read from there).
//
//   node ioredis.mjs [--port 9090] [--stream orders-1] [--duration-ms 0] [--checkpoint FILE]
//
// Prints one JSON line per event handled ({"source":"stream"|"all", ...}) and "ready" once both
// loops have issued their first read. --duration-ms 0 runs until killed. The library is
// `ioredis` from node_modules (SUBSCRIBER_NODE_MODULES=<dir> and SUBSCRIBER_REDIS_PACKAGE=<name> pick
// another install, as the tests do).
import { createRequire } from 'node:module';
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';

const opt = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const port = Number(opt('port', '9090'));
const streamId = opt('stream', 'orders-1');
const durationMs = Number(opt('duration-ms', '0'));
const checkpointFile = opt('checkpoint', '');
const require = createRequire(process.env.SUBSCRIBER_NODE_MODULES
  ? path.join(process.env.SUBSCRIBER_NODE_MODULES, 'x.js') : import.meta.url);
const pkg = require(process.env.SUBSCRIBER_REDIS_PACKAGE ?? 'ioredis');
const Redis = pkg.default ?? pkg;

// Replies: a map is an object (RESP3) or a flat [k, v, ...] array (RESP2); booleans may be 0/1.
const field = (m, k) => {
  if (Array.isArray(m)) { for (let i = 0; i + 1 < m.length; i += 2) if (String(m[i]) === k) return m[i + 1]; return undefined; }
  return m instanceof Map ? m.get(k) : m[k];
};
const truthy = (v) => v === true || v === 1;

// The checkpoint: the next stream version, and the next sequence of every partition seen.
const checkpoint = checkpointFile && existsSync(checkpointFile)
  ? JSON.parse(readFileSync(checkpointFile, 'utf8')) : { streamNext: 0, partitions: {} };
const ack = () => {
  if (!checkpointFile) return;
  writeFileSync(`${checkpointFile}.tmp`, JSON.stringify(checkpoint));
  renameSync(`${checkpointFile}.tmp`, checkpointFile);
};
const handle = (source, e) => {
  process.stdout.write(`${JSON.stringify({ source, event_id: String(field(e, 'event_id')),
    stream_id: String(field(e, 'stream_id')), stream_version: Number(field(e, 'stream_version')),
    partition_id: Number(field(e, 'partition_id')),
    partition_sequence: Number(field(e, 'partition_sequence')),
    event_name: String(field(e, 'event_name')) })}\n`);
};

// One connection per loop: a blocked read holds its connection's later replies (as Redis).
// HELLO 2 on every (re)connect: ioredis 5 reads RESP2 only (harmless for ioredis 6); maps then
// come back as flat [k, v, ...] arrays and booleans as 0/1.
const open = async () => {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  c.on('error', (err) => process.stderr.write(`redis error: ${err}\n`));
  c.on('connect', () => c.call('HELLO', '2').catch(() => {}));
  await c.connect();
  return c;
};
let running = true;
const started = [false, false];
const markStarted = (i) => {
  if (started[i]) return;
  started[i] = true;
  if (started.every(Boolean)) process.stdout.write('ready\n');
};

// ESCAN <stream> <next> + COUNT 100 BLOCK 1000: the stream's next events, or an empty page
// after a second without any.
async function followStream(c) {
  while (running) {
    const p = c.call('ESCAN', streamId, String(checkpoint.streamNext), '+', 'COUNT', '100', 'BLOCK', '1000');
    markStarted(0);
    const page = await p;
    for (const e of field(page, 'events')) {
      handle('stream', e);
      checkpoint.streamNext = Number(field(e, 'stream_version')) + 1;
    }
    ack();
    if (truthy(field(page, 'has_more'))) continue;
  }
}

// EPREAD COUNT 500 BLOCK 1000 FROM * 0 <p> <next> ...: every partition, from the next sequence
// of the ones seen and from 0 in the others.
async function followAll(c) {
  while (running) {
    const from = ['*', '0'];
    for (const [p, next] of Object.entries(checkpoint.partitions)) from.push(p, String(next));
    const r = c.call('EPREAD', 'COUNT', '500', 'BLOCK', '1000', 'FROM', ...from);
    markStarted(1);
    const page = await r;
    for (const e of field(page, 'events')) {
      handle('all', e);
      checkpoint.partitions[Number(field(e, 'partition_id'))] = Number(field(e, 'partition_sequence')) + 1;
    }
    ack();
  }
}

const a = await open();
const b = await open();
if (durationMs > 0) setTimeout(() => { running = false; }, durationMs);
await Promise.all([followStream(a), followAll(b)]);
a.disconnect();
b.disconnect();
