// A deterministic simulated cluster (CLUSTER §5a): N nodes in one process, each a log + a
// BucketReplica, clients appending through them, a lossy reordering network and a nemesis
// (partitions, crashes, power loss, disk errors, clock jumps), all decided by one seeded PRNG
// over a virtual clock. Every step is checked by a Checker. A node's log is either a MemDisk +
// MemLog (Storage::Memory) or the real engine: a BucketLog over its own temp directory through a
// SimDisk, the power-loss layer (Storage::Files).
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cluster/bucket_replica.hpp"
#include "cluster/mem_log.hpp"
#include "cluster/sim/checker.hpp"
#include "cluster/sim/sim_disk.hpp"
#include "engine/bucket_log.hpp"

namespace sierra::test::sim {

// Which faults a run injects (chosen per seed, or fixed by a test).
struct FaultMix {
  bool partitions = false;   // isolate one node both ways
  bool asymmetric = false;   // drop only A -> B
  bool crashes = false;      // process crash: unsynced writes survive
  bool power_loss = false;   // everything unsynced lost (sometimes on every node at once)
  bool disk_errors = false;  // failed fsyncs / vote saves: fail-stop and restart
  bool clock_jumps = false;  // a node's clock jumps forward
  bool lossy = true;         // 2% of messages lost, 2% duplicated
  unsigned gap_ms = 700;     // mean time between two fault actions
  unsigned down_ms = 1200;   // longest time a crashed node stays down

  static FaultMix none() {
    FaultMix m;
    m.lossy = false;
    return m;
  }
  static FaultMix random(std::mt19937_64& rng);
  std::string describe() const;
};

// Where the nodes keep their logs.
enum class Storage : uint8_t {
  Memory,  // MemDisk + MemLog
  Files,   // BucketLog over a temp directory per node, through a SimDisk
};

struct SimConfig {
  uint64_t seed = 1;
  Storage storage = Storage::Memory;
  uint64_t segment_size = 64 * 1024;  // Files: small, so that runs roll segments
  // Files: the unit of a torn write at a power loss (SimDisk::sector_size: 1 tears anywhere,
  // 512 models sector-atomic writes); SIM_SECTOR=n overrides it.
  uint64_t sector_size = 1;
  size_t nodes = 3;
  size_t clients = 3;
  FaultMix faults;
  bool random_faults = true;   // draw `faults` from the seed
  uint64_t run_ms = 6000;      // simulated time with workload and faults
  uint64_t settle_ms = 60000;  // then: healed, restarted, until converged (bounded)
  uint64_t max_steps = 3'000'000;
  unsigned election_timeout_ms = 300;
  unsigned heartbeat_timeout_ms = 40;
  uint16_t partition_count = 4;
  unsigned max_sync_delay_ms = 3;  // want_sync -> sync_log: 0..this (a slow disk: larger)
  cluster::Mutation mutation = cluster::Mutation::None;
};

struct SimStats {
  uint64_t steps = 0;
  uint64_t end_ms = 0;
  uint64_t messages_sent = 0;
  uint64_t submits = 0;
  uint64_t entries_submitted = 0;
  uint64_t committed = 0;  // transaction entries in the committed history
  uint64_t acks = 0;
  uint64_t definite_failures = 0;
  uint64_t unknown_outcomes = 0;
  uint64_t crashes = 0;
  uint64_t fail_stops = 0;
  // Files: faults the SimDisks injected, bytes their power losses took or put back, files they
  // removed.
  uint64_t disk_faults = 0;
  uint64_t lost_bytes = 0;
  uint64_t removed_files = 0;
  std::vector<uint64_t> ack_latency_ms;  // client invoke -> ack, simulated
};

class SimWorld {
 public:
  explicit SimWorld(SimConfig config);
  ~SimWorld();
  SimWorld(const SimWorld&) = delete;
  SimWorld& operator=(const SimWorld&) = delete;

  // Runs the whole scenario: "" when every check held, else the first violation.
  std::string run();
  const SimStats& stats() const { return stats_; }
  const SimConfig& config() const { return config_; }
  // The violation is only that the cluster did not converge after healing (every safety check
  // held).
  bool liveness_only() const { return liveness_failure_; }

 private:
  enum class Kind : uint8_t {
    Deliver,
    Sync,
    Flush,
    Restart,
    ClientWake,
    ClientAnswer,
    ClientTimeout,
    Fault
  };
  struct Event {
    Kind kind = Kind::Fault;
    size_t node = 0;  // index (id - 1); the destination of a message
    size_t from = 0;
    uint64_t incarnation = 0;
    std::vector<uint8_t> bytes;
    size_t client = 0;
    uint64_t op = 0;
    uint64_t attempt = 0;
    Uuid txid;  // of a client answer
    std::optional<Result<AppendResult>> answer;
  };
  struct Node {
    uint64_t id = 0;
    MemDisk disk;                     // Memory
    std::unique_ptr<MemLog> mem_log;  // Memory
    std::filesystem::path dir;        // Files: the node's data directory
    std::shared_ptr<SimDisk> sim_disk;
    std::unique_ptr<BucketLog> bucket_log;
    ReplicatedLog* log = nullptr;  // the open one of the two
    std::unique_ptr<cluster::BucketReplica> replica;
    uint64_t incarnation = 0;   // bumped on every stop: stale events are ignored
    uint64_t clock_offset = 0;  // local clock = world clock + offset (only grows)
    bool sync_pending = false;
    bool flush_pending = false;
    bool restart_pending = false;
    uint64_t max_commit = 0;  // highest commit index the replica reported since it opened
  };
  struct Stream {
    std::string name;
    Uuid key;
    PartitionId pid = 0;
  };
  struct Op {
    uint64_t id = 0;
    std::optional<Transaction> tx;
    PartitionId pid = 0;
    std::vector<size_t> streams;  // indexes into streams_, one per event
    uint64_t started_ms = 0;
    uint64_t attempt = 0;
  };
  struct Client {
    std::vector<size_t> own;  // streams it writes (plus the shared ones)
    size_t guess = 0;         // node index it believes leads
    std::optional<Op> op;
    uint64_t next_op = 1;
    unsigned wrong_in_a_row = 0;
  };

  uint64_t rand(uint64_t lo, uint64_t hi);  // uniform in [lo, hi]
  bool chance(double p);
  void schedule(uint64_t at, Event e);
  uint64_t local_now(const Node& n) const { return now_ + n.clock_offset; }

  bool start_node(size_t i);
  void stop_node(size_t i, bool power_loss, uint64_t restart_after);
  // Checks a replica call's status: a disk fault injected during it stops the node (fail-stop),
  // any other error is a violation. False when the node was stopped.
  bool handle_status(size_t i, const Status& s, int faults_before, const char* what);
  int pending_faults(const Node& n) const {
    return n.sim_disk ? n.sim_disk->pending_faults() : n.disk.fail_syncs + n.disk.fail_vote_saves;
  }
  bool files() const { return config_.storage == Storage::Files; }
  bool open_log(size_t i);
  void close_log(Node& n);
  // An injected disk fault stopped node i (its replica or log open failed): the process dies,
  // and restarts after a while.
  void fail_stop(size_t i);
  uint64_t next_sequence(const Node& n, PartitionId pid) const;
  cluster::BucketReplica::Host make_host(size_t i);
  void want_flush(size_t i);

  void step_event(Event e);
  void tick_node(size_t i);
  void deliver(Event& e);
  void client_wake(size_t c);
  void client_attempt(size_t c);
  void client_answer(Event& e);
  void client_retry(size_t c, uint64_t delay, bool rotate);
  void fault();
  void end_phase();
  bool converged();
  std::string describe_state() const;
  void observe();

  SimConfig config_;
  std::filesystem::path root_;  // Files: the world's temp directory (removed at the end)
  std::mt19937_64 rng_;
  Checker checker_;
  SimStats stats_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Client> clients_;
  std::vector<Stream> streams_;
  std::map<std::string, uint64_t> known_next_version_;    // per stream, from acknowledged appends
  std::map<std::pair<uint64_t, uint64_t>, Event> queue_;  // (time, seq) -> event
  std::vector<std::vector<bool>> blocked_;                // [from][to]
  uint64_t now_ = 1000;
  uint64_t seq_ = 0;
  uint64_t run_end_ = 0;
  bool ending_ = false;
  bool liveness_failure_ = false;
  uint64_t trace_from_ = std::numeric_limits<uint64_t>::max();  // SIM_TRACE=<ms>: log to stderr
};

}  // namespace sierra::test::sim
