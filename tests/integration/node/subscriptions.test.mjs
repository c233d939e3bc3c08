// Subscription pushes (ESUB/EPSUB/EACK/EUNSUB, PROTOCOL §4.8-4.10, §7) received from node over
// RESP3. Run by run.sh (node --test), which provides SIERRA_HOST / SIERRA_PORT.
//
// Why not createClient() from node-redis v5 (5.12.1): it has no public hook for push frames of
// unknown kinds. Its command queue (private) routes every push through its Redis pub/sub logic:
// a `subscribe` push is taken for the status reply of a SUBSCRIBE command (with no command in
// flight it throws "Cannot read properties of undefined (reading 'value')", reported as an
// `error` event), and a `message` push is handed to the listeners of pub/sub channel
// <subscription id> with the cursor as the message, dropping the event map. `addPushHandler`
// exists only on the private queue. So these tests speak RESP3 over a raw `net` socket, decoding
// with node-redis's own RESP3 decoder (@redis/client RESP/decoder.js), which hands pushes to a
// callback of ours.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Decoder } from '@redis/client/dist/lib/RESP/decoder.js';

const HOST = process.env.SIERRA_HOST ?? '127.0.0.1';
const PORT = Number(process.env.SIERRA_PORT ?? '9090');
const EVENT_KEYS = ['event_id', 'partition_key', 'partition_id', 'transaction_id',
  'partition_sequence', 'stream_version', 'timestamp', 'stream_id', 'event_name', 'metadata',
  'payload'];
const unique = (prefix) => `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function encode(args) {
  let out = `*${args.length}\r\n`;
  for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return out;
}

// A RESP3 connection: call() resolves with the next reply (in order); pushes are queued and
// taken with nextPush().
class Resp3Connection {
  #socket;
  #waiting = [];
  #pushes = [];
  #pushWaiter = null;

  static async open() {
    const c = new Resp3Connection();
    await new Promise((resolve, reject) => {
      c.#socket = net.connect({ host: HOST, port: PORT }, resolve);
      c.#socket.once('error', reject);
    });
    const decoder = new Decoder({
      onReply: (v) => c.#waiting.shift().resolve(v),
      onErrorReply: (e) => c.#waiting.shift().reject(e),
      onPush: (p) => c.#onPush(p),
      getTypeMapping: () => ({}),
    });
    c.#socket.on('data', (chunk) => decoder.write(chunk));
    const hello = await c.call('HELLO', '3');
    assert.equal(hello.proto, 3);
    return c;
  }

  call(...args) {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#socket.write(encode(args.map(String)));
    });
  }

  #onPush(p) {
    // Push frames arrive with blob strings as Buffers (node-redis's PUSH_TYPE_MAPPING).
    const push = { kind: String(p[0]), id: String(p[1]), value: p[2], event: p[3] };
    if (this.#pushWaiter) {
      const w = this.#pushWaiter;
      this.#pushWaiter = null;
      w(push);
    } else {
      this.#pushes.push(push);
    }
  }

  // The next push, or null after `ms` without one.
  nextPush(ms = 10000) {
    if (this.#pushes.length) return Promise.resolve(this.#pushes.shift());
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pushWaiter = null;
        resolve(null);
      }, ms);
      this.#pushWaiter = (p) => {
        clearTimeout(timer);
        resolve(p);
      };
    });
  }

  // Sends a subscribe command: the reply is the id, then comes the `subscribe` push.
  async subscribe(args, expectCount = 1) {
    const id = await this.call(...args);
    assert.equal(typeof id, 'string');
    const p = await this.nextPush();
    assert.ok(p, 'subscribe push');
    assert.deepEqual([p.kind, p.id, p.value], ['subscribe', id, expectCount]);
    return id;
  }

  // `n` message pushes of subscription `id`, acking each cursor if `ack`.
  async messages(id, n, { ack = false, ms = 10000 } = {}) {
    const out = [];
    while (out.length < n) {
      const p = await this.nextPush(ms);
      if (!p) break;
      assert.equal(p.kind, 'message', `unexpected push ${p.kind}`);
      assert.equal(p.id, id);
      if (ack) await this.call('EACK', id, p.value);
      out.push(p);
    }
    return out;
  }

  // EUNSUB, then the `unsubscribe` push; returns the `message` pushes still in flight before it.
  async unsubscribe(id, expectCount = 0) {
    assert.equal(await this.call('EUNSUB', id), 'OK');
    const late = [];
    for (;;) {
      const p = await this.nextPush();
      assert.ok(p, 'unsubscribe push');
      assert.equal(p.id, id);
      if (p.kind !== 'message') {
        assert.deepEqual([p.kind, p.value], ['unsubscribe', expectCount]);
        return late;
      }
      late.push(p);
    }
  }

  close() {
    this.#socket.destroy();
  }
}

let writer;
let reader;
before(async () => {
  writer = await Resp3Connection.open();
  reader = await Resp3Connection.open();
});
after(() => {
  writer?.close();
  reader?.close();
});

async function append(stream, n, from = 0) {
  const replies = [];
  for (let i = 0; i < n; ++i) {
    replies.push(await writer.call('EAPPEND', stream, `Ev${from + i}`, 'EXPECTED_VERSION',
      from + i === 0 ? 'empty' : String(from + i - 1), 'PAYLOAD', `{"i":${from + i}}`,
      'METADATA', `m${from + i}`));
  }
  return replies;
}

// The event map of a `message` push against the EAPPEND reply of that event.
function checkEvent(event, appended, stream, i) {
  assert.deepEqual(Object.keys(event), EVENT_KEYS);
  assert.equal(String(event.event_id), appended.event_id);
  assert.equal(String(event.partition_key), appended.partition_key);
  assert.equal(event.partition_id, appended.partition_id);
  assert.equal(event.partition_sequence, appended.partition_sequence);
  assert.equal(event.stream_version, appended.stream_version);
  assert.equal(event.stream_version, i);
  assert.equal(event.timestamp, appended.timestamp);
  assert.equal(String(event.stream_id), stream);
  assert.equal(String(event.event_name), `Ev${i}`);
  assert.equal(String(event.metadata), `m${i}`);
  assert.equal(String(event.payload), `{"i":${i}}`);
}

test('EPSUB * FROM 0 WINDOW 100: history then live as message pushes, cursors 0..n-1', async () => {
  const stream = unique('node-sub');
  const history = await append(stream, 3);
  const id = await reader.subscribe(['EPSUB', '*', 'FROM', '0', 'WINDOW', '100']);
  const live = await append(stream, 4, 3);
  const appended = [...history, ...live];
  // Other test files may append concurrently: every event of the log arrives, ours among them.
  const mine = [];
  const nextSeq = new Map(); // partition -> next expected sequence
  let cursor = 0;
  while (mine.length < appended.length) {
    const [p] = await reader.messages(id, 1, { ack: true });
    assert.ok(p, `timed out after ${mine.length} of our events`);
    assert.equal(p.value, cursor++);
    const e = p.event;
    assert.equal(e.partition_sequence, nextSeq.get(e.partition_id) ?? 0, 'gapless partition');
    nextSeq.set(e.partition_id, e.partition_sequence + 1);
    if (String(e.stream_id) === stream) mine.push(e);
  }
  mine.forEach((e, i) => checkEvent(e, appended[i], stream, i));
  // Events appended meanwhile by other test files may still be in flight before `unsubscribe`.
  for (const p of await reader.unsubscribe(id)) assert.equal(p.value, cursor++);
});

test('ESUB FROM 0 WINDOW 3: stalls without EACK, EACK extends the window', async () => {
  const stream = unique('node-win');
  const appended = await append(stream, 8);
  const id = await reader.subscribe(['ESUB', stream, 'FROM', '0', 'WINDOW', '3']);
  const first = await reader.messages(id, 3);
  assert.deepEqual(first.map((p) => p.value), [0, 1, 2]);
  first.forEach((p, i) => checkEvent(p.event, appended[i], stream, i));
  assert.equal(await reader.nextPush(300), null, 'cursor 3 is outside the window');
  assert.equal(await reader.call('EACK', id, '1'), 'OK'); // cursors up to 1 + 3
  const second = await reader.messages(id, 2);
  assert.deepEqual(second.map((p) => p.value), [3, 4]);
  assert.equal(await reader.nextPush(300), null, 'cursor 5 is outside the window');
  assert.equal(await reader.call('EACK', id, '4'), 'OK');
  const third = await reader.messages(id, 3);
  assert.deepEqual(third.map((p) => p.value), [5, 6, 7]);
  [...first, ...second, ...third].forEach((p, i) => checkEvent(p.event, appended[i], stream, i));
  assert.deepEqual(await reader.unsubscribe(id), []);
});

test('EUNSUB stops the pushes; ordinary commands keep working on the connection', async () => {
  const stream = unique('node-unsub');
  const id = await reader.subscribe(['ESUB', stream]); // FROM LATEST
  const appended = await append(stream, 2);
  const got = await reader.messages(id, 2);
  assert.deepEqual(got.map((p) => p.value), [0, 1]);
  got.forEach((p, i) => checkEvent(p.event, appended[i], stream, i));
  assert.deepEqual(await reader.unsubscribe(id), []);
  await append(stream, 3, 2);
  await sleep(50);
  assert.equal(await reader.nextPush(300), null, 'no push after EUNSUB');
  await assert.rejects(reader.call('EACK', id, '0'), /NOTFOUND/);
  assert.equal(await reader.call('PING'), 'PONG');
  const version = await reader.call('ESVER', stream);
  assert.equal(version, 4);
});
