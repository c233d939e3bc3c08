/* C ABI over C-Raft 0.22.1's I/O-free core (raft_step): the only code that sees raft.h.
 * Plain structs in, plain structs and self-contained message bytes out; see docs/CLUSTER.md. */
#ifndef SIERRA_CLUSTER_RAFT_SHIM_H
#define SIERRA_CLUSTER_RAFT_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library version the shim is written against (major*10000 + minor*100 + patch). */
#define RAFT_SHIM_REQUIRED_VERSION 2201

/* Result codes: 0 is success; the others carry C-Raft's own numbering. */
enum {
  RAFT_SHIM_OK = 0,
  RAFT_SHIM_NOMEM = 1,
  RAFT_SHIM_MALFORMED = 6, /* message bytes that do not decode */
  RAFT_SHIM_NOTLEADER = 7, /* submit on a core that is not the leader */
  RAFT_SHIM_SHUTDOWN = 9,  /* the core failed an earlier step and accepts no more */
  RAFT_SHIM_INVALID = 20,  /* an argument the core would assert on */
};

/* Entry types, as stored in the log (same codes as C-Raft). */
enum raft_shim_entry_type {
  RAFT_SHIM_COMMAND = 1, /* a state-machine payload */
  RAFT_SHIM_BARRIER = 2, /* no payload meaning; commits everything before it */
  RAFT_SHIM_CHANGE = 3,  /* an encoded configuration */
};

/* Roles of the local core. */
enum raft_shim_role {
  RAFT_SHIM_UNAVAILABLE = 0,
  RAFT_SHIM_FOLLOWER = 1,
  RAFT_SHIM_CANDIDATE = 2,
  RAFT_SHIM_LEADER = 3,
};

/* Kinds of peer messages (same codes as C-Raft). */
enum raft_shim_message_kind {
  RAFT_SHIM_APPEND_ENTRIES = 1,
  RAFT_SHIM_APPEND_ENTRIES_RESULT = 2,
  RAFT_SHIM_REQUEST_VOTE = 3,
  RAFT_SHIM_REQUEST_VOTE_RESULT = 4,
  RAFT_SHIM_INSTALL_SNAPSHOT = 5,
  RAFT_SHIM_TIMEOUT_NOW = 6,
};

/* Bits of raft_shim_update.flags: what changed in the step. */
enum {
  RAFT_SHIM_UPDATE_TERM_VOTE = 1u << 0, /* persist term+vote durably BEFORE sending messages */
  RAFT_SHIM_UPDATE_ENTRIES = 1u << 1,   /* entries to persist (truncating from first_index) */
  RAFT_SHIM_UPDATE_MESSAGES = 1u << 2,  /* messages to send */
  RAFT_SHIM_UPDATE_ROLE = 1u << 3,      /* role changed */
  RAFT_SHIM_UPDATE_COMMIT = 1u << 4,    /* commit index advanced */
  RAFT_SHIM_UPDATE_TIMEOUT = 1u << 5,   /* next timeout time changed */
};

/* One log entry, by view: `data` is borrowed for the duration of the call it is passed to (or,
 * in an update, until the next step on the same core). */
struct raft_shim_entry {
  uint64_t term;
  uint8_t type; /* enum raft_shim_entry_type */
  const uint8_t* data;
  size_t len;
};

/* One message to send: `bytes` is the whole self-contained wire form (sender id inside). */
struct raft_shim_message {
  uint64_t to;
  uint8_t kind; /* enum raft_shim_message_kind */
  const uint8_t* bytes;
  size_t len;
};

/* What the driver must do after a step. Owned by the core; valid until the next step call on
 * the same core or raft_shim_destroy. Fields other than the flagged ones still hold the current
 * values (term, vote, commit index, role, leader, timeout, last index). */
struct raft_shim_update {
  uint32_t flags;
  uint64_t term;
  uint64_t voted_for;
  /* Entries to persist at first_index..first_index+n_entries-1. first_index <= the local last
   * index means: truncate the local log from first_index (uncommitted suffix), then append. */
  uint64_t first_index;
  const struct raft_shim_entry* entries;
  size_t n_entries;
  const struct raft_shim_message* messages;
  size_t n_messages;
  /* AppendEntries messages whose entries had to come from the log loader in this step, and
   * those dropped because the loader could not supply them (the core retries them later). */
  size_t n_loaded_messages;
  size_t n_dropped_messages;
  uint64_t commit_index;
  uint8_t role;       /* enum raft_shim_role */
  uint64_t leader_id; /* 0: none known */
  uint64_t timeout;   /* time (ms) at which to call raft_shim_timeout next */
  uint64_t last_index;
};

/* Fills out[0..n) with the entries first_index..first_index+n-1 of the local log (written,
 * whether fsynced or not), with each entry's exact term and type. Views must stay valid until
 * the step call returns. Returns 0, or non-zero when the range is not available. */
typedef int (*raft_shim_load_entries_fn)(void* ctx, uint64_t first_index, uint32_t n,
                                         struct raft_shim_entry* out);

struct raft_shim_options {
  unsigned election_timeout_ms;  /* 0: library default (1000) */
  unsigned heartbeat_timeout_ms; /* 0: library default (100) */
  unsigned max_inflight_entries; /* 0: library default (32) */
  int pre_vote;                  /* non-zero: enable pre-vote */
};

/* Snapshot metadata at start: everything <= index is in the snapshot. */
struct raft_shim_snapshot_meta {
  uint64_t index;
  uint64_t term;
  uint64_t configuration_index;
  const uint8_t* configuration; /* encoded, as raft_shim_encode_configuration makes it */
  size_t configuration_len;
};

typedef struct raft_shim_core raft_shim_core;

/* raft_version_number() of the library linked at run time. */
int raft_shim_version(void);
/* Non-zero when both the headers the shim was compiled with and the library linked at run
 * time are 0.22.1. */
int raft_shim_version_ok(void);
/* A static description of a result code. */
const char* raft_shim_strerror(int code);

/* Encodes a configuration of voters (ids > 0, distinct) as the payload of a RAFT_SHIM_CHANGE
 * entry. *out is allocated with malloc; release it with raft_shim_free. */
int raft_shim_encode_configuration(const uint64_t* voter_ids, size_t n, uint8_t** out,
                                   size_t* out_len);
void raft_shim_free(void* p);

/* A core for node `id` (> 0) with its PRNG seeded by `seed`. `load` may be NULL (a single-voter
 * group never needs it). Returns NULL when out of memory or id is 0. */
raft_shim_core* raft_shim_create(uint64_t id, unsigned seed, const struct raft_shim_options* opt,
                                 raft_shim_load_entries_fn load, void* load_ctx);
void raft_shim_destroy(raft_shim_core* core);

/* Steps. `now` is monotonic time in ms. On success *out points to the update (see above); on
 * failure *out is NULL. A failure other than a rejected submit leaves the core refusing further
 * steps (RAFT_SHIM_SHUTDOWN). */

/* Start from persisted state: term, vote, optional snapshot, and the entries from start_index
 * on (only RAFT_SHIM_CHANGE payloads are read; other entries may have len 0). Term 0 means no
 * state at all (then no snapshot and no entries). Bootstrapping = start with term 1 and one
 * RAFT_SHIM_CHANGE entry of term 1 at index 1 holding the initial configuration. */
int raft_shim_start(raft_shim_core* core, uint64_t now, uint64_t term, uint64_t voted_for,
                    const struct raft_shim_snapshot_meta* snapshot, uint64_t start_index,
                    const struct raft_shim_entry* entries, size_t n,
                    const struct raft_shim_update** out);
/* A message received from a peer, in the wire form another core produced. */
int raft_shim_receive(raft_shim_core* core, uint64_t now, const uint8_t* bytes, size_t len,
                      const struct raft_shim_update** out);
/* Entries up to `index` are durably persisted (only ever what an update asked to persist). */
int raft_shim_persisted(raft_shim_core* core, uint64_t now, uint64_t index,
                        const struct raft_shim_update** out);
/* The time from the last update's `timeout` has come. */
int raft_shim_timeout(raft_shim_core* core, uint64_t now, const struct raft_shim_update** out);
/* Leader only: append entries (COMMAND or BARRIER; terms are set to the current term). Payloads
 * are copied. *first_index receives the index of the first one. */
int raft_shim_submit(raft_shim_core* core, uint64_t now, const struct raft_shim_entry* entries,
                     size_t n, uint64_t* first_index, const struct raft_shim_update** out);
/* Leader only: append one barrier entry (the leader's first-term barrier, linearizable reads). */
int raft_shim_submit_barrier(raft_shim_core* core, uint64_t now, uint64_t* index,
                             const struct raft_shim_update** out);
/* Leader only: hand leadership to `to` (0: the library picks a voter). */
int raft_shim_transfer(raft_shim_core* core, uint64_t now, uint64_t to,
                       const struct raft_shim_update** out);

/* Queries between steps. */
uint64_t raft_shim_id(const raft_shim_core* core);
uint64_t raft_shim_term(const raft_shim_core* core);
uint64_t raft_shim_commit_index(const raft_shim_core* core);
uint64_t raft_shim_last_index(const raft_shim_core* core);
/* The last index the core takes as persisted (reported, or given at start; lowered when a
 * conflicting suffix is truncated). */
uint64_t raft_shim_last_stored(const raft_shim_core* core);
/* How many AppendEntries rejections the shim discarded as stale (older than a success that
 * already raised the sender's match index; a 0.22.1 work-around, see raft_shim_receive). */
uint64_t raft_shim_stale_rejections(const raft_shim_core* core);
uint64_t raft_shim_next_timeout(const raft_shim_core* core);
uint8_t raft_shim_role(const raft_shim_core* core);
uint64_t raft_shim_leader(const raft_shim_core* core);
/* Leader only: the highest index known replicated on `id`. 0 on success. */
int raft_shim_match_index(const raft_shim_core* core, uint64_t id, uint64_t* index);
/* The library's description of the last error on this core. */
const char* raft_shim_errmsg(const raft_shim_core* core);

/* Header of a wire-form message, for transports and tests (no core needed). */
struct raft_shim_message_info {
  uint8_t kind;
  uint64_t from;
  uint64_t term;
  uint64_t prev_log_index; /* AppendEntries */
  uint32_t n_entries;      /* AppendEntries */
};
int raft_shim_message_peek(const uint8_t* bytes, size_t len, struct raft_shim_message_info* info);

#ifdef __cplusplus
}
#endif

#endif /* SIERRA_CLUSTER_RAFT_SHIM_H */
