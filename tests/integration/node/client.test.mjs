// node-redis v5, the client sierradb-inspector uses (PROTOCOL §9.2), against a real sierradb.
// Run by run.sh (node --test), which provides SIERRA_HOST / SIERRA_PORT.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createClient, RESP_TYPES } from 'redis';

const url = `redis://${process.env.SIERRA_HOST ?? '127.0.0.1'}:${process.env.SIERRA_PORT ?? '9090'}`;
const EXPLICIT_KEY = '550e8400-e29b-41d4-a716-446655440000'; // partition 25 (PROTOCOL §2.3)
const NAMESPACE = '219bd637-e279-53e9-9e2b-eabe5d9120cc';
const EVENT_KEYS = ['event_id', 'partition_key', 'partition_id', 'transaction_id',
  'partition_sequence', 'stream_version', 'timestamp', 'stream_id', 'event_name', 'metadata',
  'payload'];

// UUIDv5(NAMESPACE, name): the default partition key of a stream (PROTOCOL §2.2).
function keyOf(stream) {
  const ns = Buffer.from(NAMESPACE.replaceAll('-', ''), 'hex');
  const h = createHash('sha1').update(ns).update(Buffer.from(stream, 'utf8')).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
function partitionHash(uuid) {
  const b = Buffer.from(uuid.replaceAll('-', ''), 'hex');
  return ((b[8] & 0x3f) << 10) | (b[9] << 2) | (b[10] >> 6);
}
const unique = (prefix) => `${prefix}-${Math.random().toString(36).slice(2, 10)}`;

let client;        // RESP3, default type mapping (blob strings as JS strings)
// Like the inspector: blob strings mapped to Buffer.
const asBuffers = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };
const errors = [];

before(async () => {
  client = createClient({ url, RESP: 3 });
  client.on('error', (err) => errors.push(err));
  await client.connect(); // handshake: HELLO 3 must succeed, CLIENT SETINFO is tolerated
});

after(async () => {
  await client?.close();
  assert.deepEqual(errors, [], 'client error events');
});

// has_more/events reply of ESCAN/EPSCAN with the types the inspector checks.
function checkBatch(reply) {
  assert.deepEqual(Object.keys(reply), ['has_more', 'events']);
  assert.equal(typeof reply.has_more, 'boolean');
  assert.ok(Array.isArray(reply.events));
  for (const e of reply.events) checkEvent(e);
  return reply;
}
function checkEvent(e) {
  assert.deepEqual(Object.keys(e), EVENT_KEYS);
  for (const k of ['partition_id', 'partition_sequence', 'stream_version', 'timestamp']) {
    assert.equal(typeof e[k], 'number', k);
  }
  assert.equal(partitionHash(String(e.event_id)), partitionHash(String(e.partition_key)));
}

test('PING and HELLO 3', async () => {
  assert.equal(await client.ping(), 'PONG');
  const hello = await client.sendCommand(['HELLO', '3']);
  assert.deepEqual(Object.keys(hello).slice(0, 5),
    ['server', 'version', 'peer_id', 'num_partitions', 'proto']);
  assert.equal(hello.server, 'sierradb');
  assert.equal(hello.num_partitions, 32);
  assert.equal(hello.proto, 3);
});

test('EAPPEND test vector, EGET, ESCAN, ESVER', async () => {
  const stream = unique('node-user');
  const a = await client.sendCommand(['EAPPEND', stream, 'UserRegistered',
    'EXPECTED_VERSION', 'empty', 'PAYLOAD', '{"name":"ada"}', 'METADATA', 'm']);
  assert.deepEqual(Object.keys(a),
    ['event_id', 'partition_key', 'partition_id', 'partition_sequence', 'stream_version',
      'timestamp']);
  assert.equal(a.partition_key, keyOf(stream));
  assert.equal(a.partition_id, partitionHash(keyOf(stream)) % 32);
  assert.equal(a.stream_version, 0);
  assert.ok(Math.abs(a.timestamp - Date.now()) < 600_000);

  const e = await client.sendCommand(['EGET', a.event_id]);
  checkEvent(e);
  assert.equal(e.event_id, a.event_id);
  assert.equal(e.stream_id, stream);
  assert.equal(e.event_name, 'UserRegistered');
  assert.equal(e.payload, '{"name":"ada"}');
  assert.equal(e.metadata, 'm');
  assert.equal(e.partition_sequence, a.partition_sequence);

  const eb = await client.sendCommand(['EGET', a.event_id], asBuffers);
  assert.ok(Buffer.isBuffer(eb.payload) && Buffer.isBuffer(eb.stream_id));
  assert.equal(eb.payload.toString(), '{"name":"ada"}');

  assert.equal(await client.sendCommand(['EGET', '01a21398-0a79-a477-bb95-6c196d0b0375']), null);
  assert.equal(await client.sendCommand(['ESVER', stream]), 0);
  assert.equal(await client.sendCommand(['ESVER', unique('missing')]), null);

  const scan = checkBatch(await client.sendCommand(['ESCAN', stream, '-', '+', 'COUNT', '1000']));
  assert.equal(scan.has_more, false);
  assert.deepEqual(scan.events.map((x) => x.event_id), [a.event_id]);

  // The user-123 vector of PROTOCOL §2.3 / Appendix A.
  const v = await client.sendCommand(['EAPPEND', 'user-123', 'UserRegistered',
    'EXPECTED_VERSION', 'empty']);
  assert.equal(v.partition_key, '7e124fe8-fe28-5398-bb95-53973100148f');
  assert.equal(v.partition_id, 21);
  assert.equal(keyOf('user-123'), v.partition_key);
});

test('errors reject with the server text', async () => {
  const stream = unique('node-err');
  await client.sendCommand(['EAPPEND', stream, 'A', 'EXPECTED_VERSION', 'empty']);
  await assert.rejects(client.sendCommand(['EAPPEND', stream, 'A', 'EXPECTED_VERSION', 'empty']),
    { message: `WRONGVER current stream version is 0 but expected empty for partition key ${keyOf(stream)} and stream id ${stream}` });
  await assert.rejects(client.sendCommand(['EAPPEND', stream, 'A']),
    { message: 'INVALIDARG strict versioning mode rejects EXPECTED_VERSION any' });
  await assert.rejects(client.sendCommand(['NOSUCH']),
    { message: "INVALIDARG unknown command 'NOSUCH'" });
  await assert.rejects(client.sendCommand(['EPSCAN', '99', '-', '+']),
    { message: /^INVALIDARG / });
  assert.equal(await client.ping(), 'PONG');
});

test('EMAPPEND and binary payloads', async () => {
  const s1 = unique('node-m1');
  const s2 = unique('node-m2');
  const payload = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7) % 256));
  const m = await client.sendCommand(['EMAPPEND', EXPLICIT_KEY,
    s1, 'A', 'EXPECTED_VERSION', 'empty', 'PAYLOAD', payload,
    s2, 'B', 'EXPECTED_VERSION', 'empty',
    s1, 'C', 'EXPECTED_VERSION', '0']);
  assert.deepEqual(Object.keys(m).slice(0, 5), ['partition_key', 'partition_id',
    'first_partition_sequence', 'last_partition_sequence', 'events']);
  assert.equal(m.partition_id, 25);
  assert.equal(m.last_partition_sequence - m.first_partition_sequence, 2);
  assert.deepEqual(m.events.map((e) => [e.stream_id, e.stream_version]),
    [[s1, 0], [s2, 0], [s1, 1]]);
  const got = await client.sendCommand(['EGET', m.events[0].event_id], asBuffers);
  assert.ok(payload.equals(got.payload));
  assert.equal(got.partition_sequence, m.first_partition_sequence);
});

test('pipelined appends (auto-pipelining) read back in order', async () => {
  const stream = unique('node-pipe');
  const replies = await Promise.all(Array.from({ length: 300 }, (_, v) =>
    client.sendCommand(['EAPPEND', stream, 'E', 'EXPECTED_VERSION', v === 0 ? 'empty' : String(v - 1),
      'PAYLOAD', String(v)])));
  assert.deepEqual(replies.map((r) => r.stream_version), Array.from({ length: 300 }, (_, i) => i));
  // Page through the stream by version like the inspector's stream view.
  const seen = [];
  for (let start = 0; ;) {
    const page = checkBatch(await client.sendCommand(['ESCAN', stream, String(start), '+',
      'PARTITION_KEY', keyOf(stream), 'COUNT', '64']));
    for (const e of page.events) seen.push(Number(e.payload));
    if (!page.has_more) break;
    start = page.events.at(-1).stream_version + 1;
  }
  assert.deepEqual(seen, Array.from({ length: 300 }, (_, i) => i));
});

test('inspector projection: EPSCAN every partition with COUNT 1000, paging by has_more', async () => {
  // Enough events in partition 25 to need several pages.
  for (let batch = 0; batch < 5; batch++) {
    const args = ['EMAPPEND', EXPLICIT_KEY];
    for (let i = 0; i < 500; i++) args.push(unique('node-proj'), 'P', 'EXPECTED_VERSION', 'empty');
    await client.sendCommand(args);
  }
  const hello = await client.sendCommand(['HELLO', '3']);
  let total = 0;
  for (let p = 0; p < hello.num_partitions; p++) {
    let start = 0;
    let expected = 0;
    for (;;) {
      const page = checkBatch(await client.sendCommand(['EPSCAN', String(p), String(start),
        '+', 'COUNT', '1000'], asBuffers));
      assert.ok(page.events.length <= 1000);
      for (const e of page.events) {
        assert.equal(e.partition_id, p);
        assert.equal(e.partition_sequence, expected++, `partition ${p} is gapless`);
        assert.ok(Buffer.isBuffer(e.payload) && Buffer.isBuffer(e.event_name));
      }
      if (!page.has_more) break;
      assert.ok(page.events.length > 0, 'has_more with an empty page');
      start = page.events.at(-1).partition_sequence + 1;
    }
    const seq = await client.sendCommand(['EPSEQ', String(p)]);
    assert.equal(seq, expected === 0 ? null : expected - 1, `EPSEQ ${p}`);
    total += expected;
  }
  assert.ok(total >= 2500, `total ${total}`);
});

test('a client without RESP: 3 still gets RESP3 replies', async () => {
  const stream = unique('node-plain');
  const plain = createClient({ url });
  await plain.connect();
  try {
    await plain.sendCommand(['EAPPEND', stream, 'E', 'EXPECTED_VERSION', 'empty']);
    const scan = await plain.sendCommand(['ESCAN', stream, '-', '+']);
    // node-redis decodes RESP3 whatever it asked for: a map, not a flattened array.
    assert.equal(Array.isArray(scan), false);
    assert.equal(scan.has_more, false);
    assert.equal(scan.events.length, 1);
  } finally {
    await plain.close();
  }
});
