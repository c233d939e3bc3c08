/* The C shim over C-Raft 0.22.1's raft_step core (see raft_shim.h, docs/CLUSTER.md). This is the
 * only translation unit that includes raft.h (0.22.1's header does not compile as C++).
 *
 * Ownership rules of 0.22.1 this file obeys (each is repeated where it is obeyed):
 *  R1 Entry payloads handed to the core (submit, received AppendEntries, start) live in one
 *     allocation per call made with raft_malloc, and every entry's `batch` points at it.
 *  R2 The entries of an update (update.entries.batch) are the driver's after raft_step returns:
 *     the array may be the caller's own (submit, received message) or the core's barrier, and
 *     the driver releases each distinct batch with raft_free once it has used them.
 *  R3 Received AppendEntries: when the step persists them (RAFT_UPDATE_ENTRIES), R2 applies;
 *     when it does not (duplicate, rejection, snapshot install), the core has already freed the
 *     batch. The entries array itself is never freed by the core on this path.
 *  R4 Submit: on success R2 applies; when the step fails, the batch is still the caller's.
 *  R5 Start: on success the core keeps neither the entries array nor the batch (it records
 *     terms and decodes configurations); on a failed restore it frees both, with raft_free, so
 *     both are raft_malloc'd. The snapshot metadata's configuration is moved into the core.
 *  R6 update.messages.batch is the core's and is only valid until the next raft_step.
 *     AppendEntries messages come with n_entries set but no entries: the driver loads
 *     prev_log_index+1 .. prev_log_index+n_entries from its own log. InstallSnapshot messages
 *     come without configuration or data (the driver would load them; not supported here yet).
 *  R7 Any other failed step may or may not have freed a batch: the shim frees nothing then
 *     (a leak rather than a double free) and the core refuses further steps.
 */
#include "cluster/raft_shim.h"

#include <raft.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert((int)RAFT_SHIM_NOMEM == (int)RAFT_NOMEM, "result codes follow C-Raft");
_Static_assert((int)RAFT_SHIM_MALFORMED == (int)RAFT_MALFORMED, "result codes follow C-Raft");
_Static_assert((int)RAFT_SHIM_NOTLEADER == (int)RAFT_NOTLEADER, "result codes follow C-Raft");
_Static_assert((int)RAFT_SHIM_SHUTDOWN == (int)RAFT_SHUTDOWN, "result codes follow C-Raft");
_Static_assert((int)RAFT_SHIM_INVALID == (int)RAFT_INVALID, "result codes follow C-Raft");
_Static_assert((int)RAFT_SHIM_COMMAND == (int)RAFT_COMMAND &&
                   (int)RAFT_SHIM_BARRIER == (int)RAFT_BARRIER &&
                   (int)RAFT_SHIM_CHANGE == (int)RAFT_CHANGE,
               "entry types follow C-Raft");
_Static_assert((int)RAFT_SHIM_APPEND_ENTRIES == (int)RAFT_APPEND_ENTRIES &&
                   (int)RAFT_SHIM_APPEND_ENTRIES_RESULT == (int)RAFT_APPEND_ENTRIES_RESULT &&
                   (int)RAFT_SHIM_REQUEST_VOTE == (int)RAFT_REQUEST_VOTE &&
                   (int)RAFT_SHIM_REQUEST_VOTE_RESULT == (int)RAFT_REQUEST_VOTE_RESULT &&
                   (int)RAFT_SHIM_INSTALL_SNAPSHOT == (int)RAFT_INSTALL_SNAPSHOT &&
                   (int)RAFT_SHIM_TIMEOUT_NOW == (int)RAFT_TIMEOUT_NOW,
               "message kinds follow C-Raft");
_Static_assert((int)RAFT_SHIM_FOLLOWER == (int)RAFT_FOLLOWER &&
                   (int)RAFT_SHIM_CANDIDATE == (int)RAFT_CANDIDATE &&
                   (int)RAFT_SHIM_LEADER == (int)RAFT_LEADER,
               "roles follow C-Raft");

/* ---- growable byte buffer (shim-owned memory, plain malloc) ---- */

struct bytes {
  uint8_t* p;
  size_t len;
  size_t cap;
  int oom;
};

static int bytes_reserve(struct bytes* b, size_t extra) {
  if (b->oom) return -1;
  if (b->len + extra <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra) cap *= 2;
  uint8_t* p = realloc(b->p, cap);
  if (p == NULL) {
    b->oom = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

static void put_bytes(struct bytes* b, const void* data, size_t n) {
  if (n == 0 || bytes_reserve(b, n) != 0) return;
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

static void put_uint(struct bytes* b, uint64_t v, unsigned width) {
  uint8_t tmp[8];
  for (unsigned i = 0; i < width; i++) tmp[i] = (uint8_t)(v >> (8 * i)); /* little-endian */
  put_bytes(b, tmp, width);
}

struct reader {
  const uint8_t* p;
  size_t left;
  int bad;
};

static uint64_t get_uint(struct reader* r, unsigned width) {
  if (r->bad || r->left < width) {
    r->bad = 1;
    return 0;
  }
  uint64_t v = 0;
  for (unsigned i = 0; i < width; i++) v |= (uint64_t)r->p[i] << (8 * i);
  r->p += width;
  r->left -= width;
  return v;
}

static const uint8_t* get_span(struct reader* r, size_t n) {
  if (r->bad || r->left < n) {
    r->bad = 1;
    return NULL;
  }
  const uint8_t* s = r->p;
  r->p += n;
  r->left -= n;
  return s;
}

/* ---- wire form ----
 * All integers little-endian. Header: u8 format (1), u8 kind, u64 sender id, u64 term. Then:
 *  APPEND_ENTRIES:        u64 prev_log_index, u64 prev_log_term, u64 leader_commit, u32 n,
 *                         n x (u64 term, u8 type, u32 len, len bytes)
 *  APPEND_ENTRIES_RESULT: u64 rejected, u64 last_log_index, u16 features, u16 capacity
 *  REQUEST_VOTE:          u64 candidate_id, u64 last_log_index, u64 last_log_term,
 *                         u8 disrupt_leader, u8 pre_vote
 *  REQUEST_VOTE_RESULT:   u8 vote_granted, u8 pre_vote, u16 features, u16 capacity
 *  TIMEOUT_NOW:           u64 last_log_index, u64 last_log_term
 * (the field `version` of each message struct is not shipped: every node runs 0.22.1, whose
 * current versions are set on decode). */
#define WIRE_FORMAT 1
#define HEADER_SIZE (1 + 1 + 8 + 8)
#define ENTRY_HEADER_SIZE (8 + 1 + 4)
/* Versions 0.22.1 puts in the messages it makes (its message.h); set on decode. */
#define V_REQUEST_VOTE 2
#define V_REQUEST_VOTE_RESULT 2
#define V_APPEND_ENTRIES 0
#define V_APPEND_ENTRIES_RESULT 2
#define V_TIMEOUT_NOW 0

/* ---- the core ---- */

struct raft_shim_core {
  struct raft raft;
  uint64_t id;
  int failed;
  raft_shim_load_entries_fn load;
  void* load_ctx;
  char peer_address[24];     /* the sender's address for a received message: its id in decimal */
  uint64_t stale_rejections; /* AppendEntries rejections discarded as stale (raft_shim_receive) */

  struct raft_shim_update update;
  /* Copies of the update's entries: payloads in entry_bytes, views in entries. */
  struct raft_shim_entry* entries;
  size_t entries_cap;
  struct bytes entry_bytes;
  /* The update's messages: wire forms in msg_bytes, offsets in msg_off, views in messages. */
  struct raft_shim_message* messages;
  size_t messages_cap;
  size_t* msg_off;
  size_t msg_off_cap;
  struct bytes msg_bytes;
  /* Scratch for the loader's answers. */
  struct raft_shim_entry* loaded;
  size_t loaded_cap;
};

int raft_shim_version(void) {
  return raft_version_number();
}

int raft_shim_version_ok(void) {
  return RAFT_VERSION_NUMBER == RAFT_SHIM_REQUIRED_VERSION &&
         raft_version_number() == RAFT_SHIM_REQUIRED_VERSION;
}

const char* raft_shim_strerror(int code) {
  return raft_strerror(code);
}

void raft_shim_free(void* p) {
  free(p);
}

static void id_to_address(uint64_t id, char* out, size_t cap) {
  snprintf(out, cap, "%llu", (unsigned long long)id);
}

int raft_shim_encode_configuration(const uint64_t* voter_ids, size_t n, uint8_t** out,
                                   size_t* out_len) {
  if (out == NULL || out_len == NULL || (n > 0 && voter_ids == NULL)) return RAFT_SHIM_INVALID;
  struct raft_configuration conf;
  raft_configuration_init(&conf);
  int rv = 0;
  for (size_t i = 0; i < n && rv == 0; i++) {
    char address[24];
    id_to_address(voter_ids[i], address, sizeof address);
    rv = raft_configuration_add(&conf, voter_ids[i], address, RAFT_VOTER);
  }
  struct raft_buffer buf = {NULL, 0};
  if (rv == 0) rv = raft_configuration_encode(&conf, &buf);
  raft_configuration_close(&conf);
  if (rv != 0) return rv;
  /* raft_configuration_encode allocates with raft_malloc: copy into plain malloc memory so the
   * caller has one release function, and give the library's buffer back with raft_free. */
  *out = malloc(buf.len ? buf.len : 1);
  if (*out == NULL) {
    raft_free(buf.base);
    return RAFT_SHIM_NOMEM;
  }
  memcpy(*out, buf.base, buf.len);
  *out_len = buf.len;
  raft_free(buf.base);
  return 0;
}

raft_shim_core* raft_shim_create(uint64_t id, unsigned seed, const struct raft_shim_options* opt,
                                 raft_shim_load_entries_fn load, void* load_ctx) {
  if (id == 0) return NULL;
  raft_shim_core* core = calloc(1, sizeof *core);
  if (core == NULL) return NULL;
  char address[24];
  id_to_address(id, address, sizeof address);
  /* io and fsm NULL: the I/O-free core, driven only through raft_step. */
  if (raft_init(&core->raft, NULL, NULL, id, address) != 0) {
    free(core);
    return NULL;
  }
  raft_seed(&core->raft, seed);
  if (opt != NULL) {
    if (opt->election_timeout_ms) raft_set_election_timeout(&core->raft, opt->election_timeout_ms);
    if (opt->heartbeat_timeout_ms)
      raft_set_heartbeat_timeout(&core->raft, opt->heartbeat_timeout_ms);
    if (opt->max_inflight_entries)
      raft_set_max_inflight_entries(&core->raft, opt->max_inflight_entries);
    raft_set_pre_vote(&core->raft, opt->pre_vote != 0);
  }
  core->id = id;
  core->load = load;
  core->load_ctx = load_ctx;
  return core;
}

void raft_shim_destroy(raft_shim_core* core) {
  if (core == NULL) return;
  /* Without io the library closes synchronously and calls no callback. */
  raft_close(&core->raft, NULL);
  free(core->entries);
  free(core->entry_bytes.p);
  free(core->messages);
  free(core->msg_off);
  free(core->msg_bytes.p);
  free(core->loaded);
  free(core);
}

static int grow(void** p, size_t* cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap : 16;
  while (n < need) n *= 2;
  void* q = realloc(*p, n * elem);
  if (q == NULL) return -1;
  *p = q;
  *cap = n;
  return 0;
}

/* Releases each distinct batch of an update's entries (R2). */
static void free_update_batches(struct raft_entry* entries, unsigned n) {
  void* last = NULL;
  for (unsigned i = 0; i < n; i++) {
    if (entries[i].batch != NULL && entries[i].batch != last) {
      last = entries[i].batch;
      raft_free(last);
    }
  }
}

static void encode_header(struct bytes* b, uint8_t kind, uint64_t from, uint64_t term) {
  put_uint(b, WIRE_FORMAT, 1);
  put_uint(b, kind, 1);
  put_uint(b, from, 8);
  put_uint(b, term, 8);
}

static void encode_entry(struct bytes* b, const struct raft_shim_entry* e) {
  put_uint(b, e->term, 8);
  put_uint(b, e->type, 1);
  put_uint(b, (uint32_t)e->len, 4);
  put_bytes(b, e->data, e->len);
}

/* Encodes one outgoing message into msg_bytes. Returns 1 if encoded, 0 if dropped. */
static int encode_message(raft_shim_core* core, const struct raft_message* m) {
  struct bytes* b = &core->msg_bytes;
  const struct raft_shim_update* u = &core->update;
  switch (m->type) {
    case RAFT_APPEND_ENTRIES: {
      const struct raft_append_entries* a = &m->append_entries;
      /* R6: the core leaves `entries` unset; the entries come from this step's own copies
       * (the update's tail) and, before those, from the driver's log through the loader. */
      uint64_t first = a->prev_log_index + 1;
      uint64_t n = a->n_entries;
      uint64_t from_update = 0;
      if (n > 0 && u->n_entries > 0 && first + n > u->first_index) {
        uint64_t start = first > u->first_index ? first : u->first_index;
        from_update = first + n - start;
        if (start + from_update > u->first_index + u->n_entries) return 0; /* not ours: drop */
      }
      uint64_t from_log = n - from_update;
      if (from_log > 0) {
        if (core->load == NULL) return 0;
        if (grow((void**)&core->loaded, &core->loaded_cap, (size_t)from_log, sizeof *core->loaded))
          return 0;
        memset(core->loaded, 0, (size_t)from_log * sizeof *core->loaded);
        if (core->load(core->load_ctx, first, (uint32_t)from_log, core->loaded) != 0) return 0;
        core->update.n_loaded_messages++;
      }
      encode_header(b, RAFT_APPEND_ENTRIES, core->id, a->term);
      put_uint(b, a->prev_log_index, 8);
      put_uint(b, a->prev_log_term, 8);
      put_uint(b, a->leader_commit, 8);
      put_uint(b, (uint32_t)n, 4);
      for (uint64_t i = 0; i < from_log; i++) encode_entry(b, &core->loaded[i]);
      for (uint64_t i = 0; i < from_update; i++) {
        uint64_t index = first + from_log + i;
        encode_entry(b, &u->entries[index - u->first_index]);
      }
      return 1;
    }
    case RAFT_APPEND_ENTRIES_RESULT: {
      const struct raft_append_entries_result* r = &m->append_entries_result;
      encode_header(b, RAFT_APPEND_ENTRIES_RESULT, core->id, r->term);
      put_uint(b, r->rejected, 8);
      /* A rejection's last_log_index can be uninitialised in 0.22.1: shipped as a hint only. */
      put_uint(b, r->last_log_index, 8);
      put_uint(b, r->features, 2);
      put_uint(b, r->capacity, 2);
      return 1;
    }
    case RAFT_REQUEST_VOTE: {
      const struct raft_request_vote* v = &m->request_vote;
      encode_header(b, RAFT_REQUEST_VOTE, core->id, v->term);
      put_uint(b, v->candidate_id, 8);
      put_uint(b, v->last_log_index, 8);
      put_uint(b, v->last_log_term, 8);
      put_uint(b, v->disrupt_leader ? 1 : 0, 1);
      put_uint(b, v->pre_vote ? 1 : 0, 1);
      return 1;
    }
    case RAFT_REQUEST_VOTE_RESULT: {
      const struct raft_request_vote_result* v = &m->request_vote_result;
      encode_header(b, RAFT_REQUEST_VOTE_RESULT, core->id, v->term);
      put_uint(b, v->vote_granted ? 1 : 0, 1);
      put_uint(b, v->pre_vote ? 1 : 0, 1);
      put_uint(b, v->features, 2);
      put_uint(b, v->capacity, 2);
      return 1;
    }
    case RAFT_TIMEOUT_NOW: {
      const struct raft_timeout_now* t = &m->timeout_now;
      encode_header(b, RAFT_TIMEOUT_NOW, core->id, t->term);
      put_uint(b, t->last_log_index, 8);
      put_uint(b, t->last_log_term, 8);
      return 1;
    }
    case RAFT_INSTALL_SNAPSHOT: /* R6: needs snapshot loading, not supported yet */
    default:
      return 0;
  }
}

/* Turns the library's update into the shim's (copies everything: R2, R6). */
static int build_update(raft_shim_core* core, struct raft_update* lu) {
  struct raft* r = &core->raft;
  struct raft_shim_update* u = &core->update;
  memset(u, 0, sizeof *u);
  core->entry_bytes.len = 0;
  core->entry_bytes.oom = 0;
  core->msg_bytes.len = 0;
  core->msg_bytes.oom = 0;
  int rv = 0;

  if (lu->flags & (RAFT_UPDATE_CURRENT_TERM | RAFT_UPDATE_VOTED_FOR))
    u->flags |= RAFT_SHIM_UPDATE_TERM_VOTE;
  if (lu->flags & RAFT_UPDATE_STATE) u->flags |= RAFT_SHIM_UPDATE_ROLE;
  if (lu->flags & RAFT_UPDATE_COMMIT_INDEX) u->flags |= RAFT_SHIM_UPDATE_COMMIT;
  if (lu->flags & RAFT_UPDATE_TIMEOUT) u->flags |= RAFT_SHIM_UPDATE_TIMEOUT;

  if (lu->flags & RAFT_UPDATE_ENTRIES) {
    unsigned n = lu->entries.n;
    if (grow((void**)&core->entries, &core->entries_cap, n, sizeof *core->entries)) rv = RAFT_NOMEM;
    size_t total = 0;
    for (unsigned i = 0; i < n; i++) total += lu->entries.batch[i].buf.len;
    if (rv == 0 && bytes_reserve(&core->entry_bytes, total) != 0) rv = RAFT_NOMEM;
    if (rv == 0) {
      /* Payloads are copied in one pass into reserved space, so the views stay valid. */
      for (unsigned i = 0; i < n; i++) {
        const struct raft_entry* e = &lu->entries.batch[i];
        core->entries[i].term = e->term;
        core->entries[i].type = (uint8_t)e->type;
        core->entries[i].data = core->entry_bytes.p + core->entry_bytes.len;
        core->entries[i].len = e->buf.len;
        put_bytes(&core->entry_bytes, e->buf.base, e->buf.len);
      }
      u->flags |= RAFT_SHIM_UPDATE_ENTRIES;
      u->first_index = lu->entries.index;
      u->entries = core->entries;
      u->n_entries = n;
    }
    /* R2: the update's batches are ours now; release them once copied (also on failure). */
    free_update_batches(lu->entries.batch, n);
  }

  if (rv == 0 && (lu->flags & RAFT_UPDATE_MESSAGES)) {
    /* R6: lu->messages.batch is the core's, valid until the next raft_step: encode now. */
    unsigned n = lu->messages.n;
    if (grow((void**)&core->messages, &core->messages_cap, n, sizeof *core->messages) ||
        grow((void**)&core->msg_off, &core->msg_off_cap, n, sizeof *core->msg_off)) {
      rv = RAFT_NOMEM;
    }
    size_t kept = 0;
    for (unsigned i = 0; rv == 0 && i < n; i++) {
      const struct raft_message* m = &lu->messages.batch[i];
      size_t start = core->msg_bytes.len;
      if (!encode_message(core, m)) {
        core->msg_bytes.len = start;
        u->n_dropped_messages++;
        continue;
      }
      core->messages[kept].to = m->server_id;
      core->messages[kept].kind = (uint8_t)m->type;
      core->messages[kept].len = core->msg_bytes.len - start;
      core->msg_off[kept] = start;
      kept++;
    }
    if (core->msg_bytes.oom) rv = RAFT_NOMEM;
    for (size_t i = 0; rv == 0 && i < kept; i++)
      core->messages[i].bytes = core->msg_bytes.p + core->msg_off[i];
    if (rv == 0 && kept > 0) {
      u->flags |= RAFT_SHIM_UPDATE_MESSAGES;
      u->messages = core->messages;
      u->n_messages = kept;
    }
  }
  if (core->entry_bytes.oom) rv = RAFT_NOMEM;

  u->term = raft_current_term(r);
  u->voted_for = raft_voted_for(r);
  u->commit_index = raft_commit_index(r);
  u->role = (uint8_t)raft_state(r);
  raft_id leader = 0;
  const char* leader_address = NULL;
  raft_leader(r, &leader, &leader_address);
  u->leader_id = leader;
  u->timeout = raft_timeout(r);
  u->last_index = raft_last_index(r);
  return rv;
}

/* Runs one step and builds the update. `fatal_on_error`: a failed raft_step leaves the core
 * unusable. *stepped tells whether raft_step itself succeeded (ownership differs, R4/R5). */
static int step(raft_shim_core* core, struct raft_event* ev, int fatal_on_error, int* stepped,
                const struct raft_shim_update** out) {
  struct raft_update lu;
  memset(&lu, 0, sizeof lu);
  *stepped = 0;
  int rv = raft_step(&core->raft, ev, &lu);
  if (rv != 0) {
    if (fatal_on_error) core->failed = 1;
    return rv;
  }
  *stepped = 1;
  rv = build_update(core, &lu);
  if (rv != 0) {
    core->failed = 1; /* messages or entries of a completed step were lost */
    return rv;
  }
  *out = &core->update;
  return 0;
}

static int check_ready(raft_shim_core* core, const struct raft_shim_update** out) {
  if (out == NULL || core == NULL) return RAFT_SHIM_INVALID;
  *out = NULL;
  return core->failed ? RAFT_SHIM_SHUTDOWN : 0;
}

static void event_init(struct raft_event* ev, enum raft_event_type type, uint64_t now) {
  memset(ev, 0, sizeof *ev);
  ev->type = type;
  ev->time = now;
}

/* Copies entries into one raft_malloc'd batch (R1) with an array allocated by `alloc`. */
static struct raft_entry* make_batch(const struct raft_shim_entry* src, size_t n,
                                     void* (*alloc)(size_t), void** batch_out) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += src[i].len;
  struct raft_entry* entries = alloc(n * sizeof *entries);
  uint8_t* batch = raft_malloc(total ? total : 1); /* non-NULL even for empty payloads */
  if (entries == NULL || batch == NULL) {
    if (entries != NULL) (alloc == raft_malloc ? raft_free : free)(entries);
    if (batch != NULL) raft_free(batch);
    return NULL;
  }
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    entries[i].term = src[i].term;
    entries[i].type = (enum raft_entry_type)src[i].type;
    entries[i].buf.base = batch + off;
    entries[i].buf.len = src[i].len;
    entries[i].batch = batch;
    if (src[i].len) memcpy(batch + off, src[i].data, src[i].len);
    off += src[i].len;
  }
  *batch_out = batch;
  return entries;
}

static int valid_type(uint8_t t) {
  return t == RAFT_SHIM_COMMAND || t == RAFT_SHIM_BARRIER || t == RAFT_SHIM_CHANGE;
}

int raft_shim_start(raft_shim_core* core, uint64_t now, uint64_t term, uint64_t voted_for,
                    const struct raft_shim_snapshot_meta* snapshot, uint64_t start_index,
                    const struct raft_shim_entry* entries, size_t n,
                    const struct raft_shim_update** out) {
  int rv = check_ready(core, out);
  if (rv != 0) return rv;
  /* The core asserts these; refuse them instead. */
  if (term == 0 && (voted_for != 0 || snapshot != NULL || n > 0)) return RAFT_SHIM_INVALID;
  if (n > 0 && entries == NULL) return RAFT_SHIM_INVALID;
  if (start_index == 0) start_index = 1;
  if (snapshot == NULL && n > 0 && (start_index != 1 || entries[0].type != RAFT_SHIM_CHANGE))
    return RAFT_SHIM_INVALID;
  for (size_t i = 0; i < n; i++)
    if (!valid_type(entries[i].type) || entries[i].term == 0) return RAFT_SHIM_INVALID;

  struct raft_snapshot_metadata meta;
  if (snapshot != NULL) {
    memset(&meta, 0, sizeof meta);
    meta.index = snapshot->index;
    meta.term = snapshot->term;
    meta.configuration_index = snapshot->configuration_index;
    struct raft_buffer cbuf = {(void*)snapshot->configuration, snapshot->configuration_len};
    raft_configuration_init(&meta.configuration);
    rv = raft_configuration_decode(&cbuf, &meta.configuration);
    if (rv != 0) {
      raft_configuration_close(&meta.configuration);
      return rv;
    }
  }
  /* R5: array and batch both raft_malloc'd, since a failed restore frees them with raft_free. */
  struct raft_entry* arr = NULL;
  void* batch = NULL;
  if (n > 0) {
    arr = make_batch(entries, n, raft_malloc, &batch);
    if (arr == NULL) {
      if (snapshot != NULL) raft_configuration_close(&meta.configuration);
      return RAFT_SHIM_NOMEM;
    }
  }
  struct raft_event ev;
  event_init(&ev, RAFT_START, now);
  ev.start.term = term;
  ev.start.voted_for = voted_for;
  ev.start.metadata = snapshot != NULL ? &meta : NULL; /* R5: configuration moved into core */
  ev.start.start_index = start_index;
  ev.start.entries = arr;
  ev.start.n_entries = (unsigned)n;
  int stepped = 0;
  rv = step(core, &ev, 1, &stepped, out);
  /* R5: after a successful raft_step the core kept neither; after a failed one it freed them
   * (or R7: leak, never free twice). */
  if (stepped && arr != NULL) {
    raft_free(batch);
    raft_free(arr);
  }
  return rv;
}

int raft_shim_receive(raft_shim_core* core, uint64_t now, const uint8_t* bytes, size_t len,
                      const struct raft_shim_update** out) {
  int rv = check_ready(core, out);
  if (rv != 0) return rv;
  if (bytes == NULL) return RAFT_SHIM_MALFORMED;
  struct reader rd = {bytes, len, 0};
  uint64_t format = get_uint(&rd, 1);
  uint64_t kind = get_uint(&rd, 1);
  uint64_t from = get_uint(&rd, 8);
  uint64_t term = get_uint(&rd, 8);
  if (rd.bad || format != WIRE_FORMAT || from == 0 || from == core->id) return RAFT_SHIM_MALFORMED;

  struct raft_message m;
  memset(&m, 0, sizeof m);
  m.type = (enum raft_message_type)kind;
  m.server_id = from;
  id_to_address(from, core->peer_address, sizeof core->peer_address);
  m.server_address = core->peer_address;
  struct raft_entry* arr = NULL; /* plain malloc: the core never frees it on this path (R3) */
  void* batch = NULL;
  switch (kind) {
    case RAFT_APPEND_ENTRIES: {
      struct raft_append_entries* a = &m.append_entries;
      a->version = V_APPEND_ENTRIES;
      a->term = term;
      a->prev_log_index = get_uint(&rd, 8);
      a->prev_log_term = get_uint(&rd, 8);
      a->leader_commit = get_uint(&rd, 8);
      uint64_t n = get_uint(&rd, 4);
      if (rd.bad || n > rd.left / ENTRY_HEADER_SIZE) return RAFT_SHIM_MALFORMED;
      if (n > 0) {
        /* First pass: validate and collect views; the payloads then go into one batch (R1). */
        struct raft_shim_entry* views = malloc((size_t)n * sizeof *views);
        if (views == NULL) return RAFT_SHIM_NOMEM;
        for (uint64_t i = 0; i < n; i++) {
          views[i].term = get_uint(&rd, 8);
          views[i].type = (uint8_t)get_uint(&rd, 1);
          views[i].len = (size_t)get_uint(&rd, 4);
          views[i].data = get_span(&rd, views[i].len);
          if (rd.bad || !valid_type(views[i].type) || views[i].term == 0) {
            free(views);
            return RAFT_SHIM_MALFORMED;
          }
        }
        arr = make_batch(views, (size_t)n, malloc, &batch);
        free(views);
        if (arr == NULL) return RAFT_SHIM_NOMEM;
      }
      a->entries = arr;
      a->n_entries = (unsigned)n;
      break;
    }
    case RAFT_APPEND_ENTRIES_RESULT: {
      struct raft_append_entries_result* r = &m.append_entries_result;
      r->version = V_APPEND_ENTRIES_RESULT;
      r->term = term;
      r->rejected = get_uint(&rd, 8);
      r->last_log_index = get_uint(&rd, 8);
      r->features = (unsigned short)get_uint(&rd, 2);
      r->capacity = (unsigned short)get_uint(&rd, 2);
      break;
    }
    case RAFT_REQUEST_VOTE: {
      struct raft_request_vote* v = &m.request_vote;
      v->version = V_REQUEST_VOTE;
      v->term = term;
      v->candidate_id = get_uint(&rd, 8);
      v->last_log_index = get_uint(&rd, 8);
      v->last_log_term = get_uint(&rd, 8);
      v->disrupt_leader = get_uint(&rd, 1) != 0;
      v->pre_vote = get_uint(&rd, 1) != 0;
      break;
    }
    case RAFT_REQUEST_VOTE_RESULT: {
      struct raft_request_vote_result* v = &m.request_vote_result;
      v->version = V_REQUEST_VOTE_RESULT;
      v->term = term;
      v->vote_granted = get_uint(&rd, 1) != 0;
      v->pre_vote = get_uint(&rd, 1) != 0;
      v->features = (unsigned short)get_uint(&rd, 2);
      v->capacity = (unsigned short)get_uint(&rd, 2);
      break;
    }
    case RAFT_TIMEOUT_NOW: {
      struct raft_timeout_now* t = &m.timeout_now;
      t->version = V_TIMEOUT_NOW;
      t->term = term;
      t->last_log_index = get_uint(&rd, 8);
      t->last_log_term = get_uint(&rd, 8);
      break;
    }
    default: /* InstallSnapshot is never produced by the shim (R6) */
      return RAFT_SHIM_MALFORMED;
  }
  if (rd.bad || rd.left != 0) {
    if (arr != NULL) {
      raft_free(batch);
      free(arr);
    }
    return RAFT_SHIM_MALFORMED;
  }
  /* 0.22.1 bug (progressMaybeDecrement, probe state): a rejection older than a success that
   * already raised the sender's match index moves next_index down to the match index; the
   * leader then sends that follower only empty heartbeats for ever (match == next breaks the
   * in-flight count). The pipeline state discards such a rejection as stale; do the same for
   * every state, before the core sees it. */
  if (kind == RAFT_APPEND_ENTRIES_RESULT && m.append_entries_result.rejected > 0 &&
      raft_state(&core->raft) == RAFT_LEADER && term == raft_current_term(&core->raft)) {
    raft_index match = 0;
    if (raft_match_index(&core->raft, from, &match) == 0 &&
        m.append_entries_result.rejected <= match) {
      core->stale_rejections++;
      struct raft_update none;
      memset(&none, 0, sizeof none);
      rv = build_update(core, &none);
      if (rv != 0) return rv;
      *out = &core->update;
      return 0;
    }
  }
  struct raft_event ev;
  event_init(&ev, RAFT_RECEIVE, now);
  ev.receive.message = &m;
  /* R3: if persisted, the batch comes back in the update and build_update frees it (R2); if
   * not, the core freed it; R7 on failure. The array is ours in every case. */
  int stepped = 0;
  rv = step(core, &ev, 1, &stepped, out);
  free(arr);
  return rv;
}

int raft_shim_persisted(raft_shim_core* core, uint64_t now, uint64_t index,
                        const struct raft_shim_update** out) {
  int rv = check_ready(core, out);
  if (rv != 0) return rv;
  /* The core asserts last_stored < index <= last index; refuse instead. */
  if (index <= core->raft.last_stored || index > raft_last_index(&core->raft))
    return RAFT_SHIM_INVALID;
  struct raft_event ev;
  event_init(&ev, RAFT_PERSISTED_ENTRIES, now);
  ev.persisted_entries.index = index;
  int stepped = 0;
  return step(core, &ev, 1, &stepped, out);
}

int raft_shim_timeout(raft_shim_core* core, uint64_t now, const struct raft_shim_update** out) {
  int rv = check_ready(core, out);
  if (rv != 0) return rv;
  struct raft_event ev;
  event_init(&ev, RAFT_TIMEOUT, now);
  int stepped = 0;
  return step(core, &ev, 1, &stepped, out);
}

int raft_shim_submit(raft_shim_core* core, uint64_t now, const struct raft_shim_entry* entries,
                     size_t n, uint64_t* first_index, const struct raft_shim_update** out) {
  int rv = check_ready(core, out);
  if (rv != 0) return rv;
  if (n == 0 || entries == NULL) return RAFT_SHIM_INVALID;
  for (size_t i = 0; i < n; i++)
    if (entries[i].type != RAFT_SHIM_COMMAND && entries[i].type != RAFT_SHIM_BARRIER)
      return RAFT_SHIM_INVALID;
  if (raft_state(&core->raft) != RAFT_LEADER) return RAFT_SHIM_NOTLEADER;
  void* batch = NULL;
  struct raft_entry* arr = make_batch(entries, n, malloc, &batch); /* R1 */
  if (arr == NULL) return RAFT_SHIM_NOMEM;
  uint64_t term = raft_current_term(&core->raft);
  for (size_t i = 0; i < n; i++) arr[i].term = term;
  uint64_t index = raft_last_index(&core->raft) + 1;
  struct raft_event ev;
  event_init(&ev, RAFT_SUBMIT, now);
  ev.submit.entries = arr;
  ev.submit.n = (unsigned)n;
  int stepped = 0;
  rv = step(core, &ev, 0, &stepped, out); /* a rejected submit leaves the core consistent */
  /* R4: after a failed raft_step the batch is still ours; after a successful one R2 released
   * it in build_update. */
  if (!stepped) raft_free(batch);
  free(arr);
  if (rv == 0 && first_index != NULL) *first_index = index;
  return rv;
}

int raft_shim_submit_barrier(raft_shim_core* core, uint64_t now, uint64_t* index,
                             const struct raft_shim_update** out) {
  static const uint8_t zero[8] = {0};
  struct raft_shim_entry e = {0, RAFT_SHIM_BARRIER, zero, sizeof zero};
  return raft_shim_submit(core, now, &e, 1, index, out);
}

int raft_shim_transfer(raft_shim_core* core, uint64_t now, uint64_t to,
                       const struct raft_shim_update** out) {
  int rv = check_ready(core, out);
  if (rv != 0) return rv;
  struct raft_event ev;
  event_init(&ev, RAFT_TRANSFER, now);
  ev.transfer.server_id = to;
  int stepped = 0;
  return step(core, &ev, 0, &stepped, out); /* rejected transfers change nothing */
}

uint64_t raft_shim_id(const raft_shim_core* core) {
  return core->id;
}
uint64_t raft_shim_term(const raft_shim_core* core) {
  return raft_current_term(&core->raft);
}
uint64_t raft_shim_commit_index(const raft_shim_core* core) {
  return raft_commit_index(&core->raft);
}
uint64_t raft_shim_last_index(const raft_shim_core* core) {
  return raft_last_index((struct raft*)&core->raft); /* the library's getter is not const */
}
uint64_t raft_shim_last_stored(const raft_shim_core* core) {
  return core->raft.last_stored;
}
uint64_t raft_shim_stale_rejections(const raft_shim_core* core) {
  return core->stale_rejections;
}
uint64_t raft_shim_next_timeout(const raft_shim_core* core) {
  return raft_timeout(&core->raft);
}
uint8_t raft_shim_role(const raft_shim_core* core) {
  return (uint8_t)raft_state((struct raft*)&core->raft);
}
uint64_t raft_shim_leader(const raft_shim_core* core) {
  raft_id id = 0;
  const char* address = NULL;
  raft_leader((struct raft*)&core->raft, &id, &address);
  return id;
}
int raft_shim_match_index(const raft_shim_core* core, uint64_t id, uint64_t* index) {
  raft_index i = 0;
  int rv = raft_match_index(&core->raft, id, &i);
  if (rv == 0 && index != NULL) *index = i;
  return rv;
}
const char* raft_shim_errmsg(const raft_shim_core* core) {
  return raft_errmsg((struct raft*)&core->raft);
}

int raft_shim_message_peek(const uint8_t* bytes, size_t len, struct raft_shim_message_info* info) {
  if (bytes == NULL || info == NULL) return RAFT_SHIM_INVALID;
  struct reader rd = {bytes, len, 0};
  memset(info, 0, sizeof *info);
  uint64_t format = get_uint(&rd, 1);
  info->kind = (uint8_t)get_uint(&rd, 1);
  info->from = get_uint(&rd, 8);
  info->term = get_uint(&rd, 8);
  if (info->kind == RAFT_SHIM_APPEND_ENTRIES) {
    info->prev_log_index = get_uint(&rd, 8);
    (void)get_uint(&rd, 8); /* prev_log_term */
    (void)get_uint(&rd, 8); /* leader_commit */
    info->n_entries = (uint32_t)get_uint(&rd, 4);
  }
  return rd.bad || format != WIRE_FORMAT ? RAFT_SHIM_MALFORMED : 0;
}
