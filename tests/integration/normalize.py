#!/usr/bin/env python3
"""Normalizes redis-cli --no-raw output for exact comparison (used by redis_cli_test.sh).

Replaces the values that change from run to run with placeholders, after checking their form:
  - event_id values            -> <event-id>  (must be the UUIDv7-like id of PROTOCOL §2.4, with
                                  version 7 in bits 67..64, variant 10, and the partition hash of
                                  the partition key of its event in bits 61..46)
  - transaction_id values      -> <tx-single> / <tx-multi> (a UUIDv4 whose top bit of byte 8 is
                                  set for a one-event transaction and clear otherwise, §2.5)
  - timestamp values near now  -> <now>       (milliseconds within 10 minutes of now)
  - peer_id values             -> <peer-id>
  - id values (HELLO)          -> <id>
Works for both the RESP3 map form (`3# event_id => 0190...`) and the flattened RESP2 form
(`1) event_id` followed by `2) 0190...`). A value of the wrong form is left as is, so the
comparison fails and shows it.
"""
import re
import sys
import time

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
UUID7 = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{3}7-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}"
now_ms = int(time.time() * 1000)


def partition_hash(uuid_text):
    return (int(uuid_text.replace("-", ""), 16) >> 46) & 0xFFFF


# Event ids waiting for their partition key: (index in `out`, placeholder text, id).
pending_ids = []
last_key = None


def check_ids(key):
    for index, placeholder, event_id in pending_ids:
        if partition_hash(event_id) != partition_hash(key):
            out[index] = out[index].replace(placeholder, "<event-id-without-partition-hash>")
    pending_ids.clear()


def replace_value(key, text):
    """text is the value part of a line, e.g. '01a2...' or '(integer) 1795...' or '"..."'."""
    global last_key
    if key == "event_id" and re.match(r"^" + UUID7 + r"$", text):
        if pending_ids and last_key:
            check_ids(last_key)
        pending_ids.append((len(out), "<event-id>", text))
        return "<event-id>"
    if key == "partition_key" and re.match(r"^" + UUID + r"$", text):
        last_key = text
        check_ids(text)
        return text
    if key == "transaction_id" and re.match(r"^" + UUID4 + r"$", text):
        return "<tx-single>" if int(text[19], 16) & 8 else "<tx-multi>"
    if key == "id":
        return re.sub(r"^\(integer\) \d+$", "(integer) <id>", text)
    if key == "peer_id":
        return re.sub(r'^"?[^"\s]+"?$', "<peer-id>", text)
    if key == "timestamp":
        m = re.match(r"^\(integer\) (\d+)$", text)
        if m and abs(int(m.group(1)) - now_ms) < 600_000:
            return "(integer) <now>"
    return text


prev_key = None
out = []
for line in sys.stdin.read().split("\n"):
    # RESP3 map entry: `<indent>N# key => value`
    m = re.match(r'^(.*\d+# "?([a-z_]+)"? => )(.*)$', line)
    if m:
        line = m.group(1) + replace_value(m.group(2), m.group(3))
        prev_key = None
    else:
        # flattened form: `<indent>N) value`
        # (odd positions hold keys, even positions the values).
        m = re.match(r"^(.*\b(\d+)\) )(.*)$", line)
        if m:
            index, value = int(m.group(2)), m.group(3)
            if index % 2 == 0 and prev_key is not None:
                line = m.group(1) + replace_value(prev_key, value)
                prev_key = None
            else:
                km = re.match(r'^"?([a-z_]+)"?$', value)
                prev_key = km.group(1) if index % 2 == 1 and km else None
        else:
            prev_key = None
    out.append(line)
if last_key:
    check_ids(last_key)
sys.stdout.write("\n".join(out))
