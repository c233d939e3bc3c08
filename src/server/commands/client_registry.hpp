// The connected clients as CLIENT LIST and CLIENT KILL see them: each connection registers a
// description of itself (kept up to date when CLIENT SETNAME / SETINFO / HELLO change it) and a
// way to close it. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace sierra::server {

struct ClientInfo {
  uint64_t id = 0;
  std::string addr;   // peer ip:port
  std::string laddr;  // local ip:port
  std::string name;
  std::string lib_name, lib_ver;
  int resp = 3;
  int multi = -1;   // commands queued in MULTI, -1 outside MULTI
  std::string cmd;  // last command, lower case
  std::chrono::steady_clock::time_point connected = std::chrono::steady_clock::now();
};

class ClientRegistry {
 public:
  // `close(graceful)`: graceful closes once the replies queued are written (the killer's own
  // connection, so that it reads its +OK), otherwise at once.
  void add(ClientInfo info, std::function<void(bool graceful)> close);
  void remove(uint64_t id);
  void update(uint64_t id, const std::function<void(ClientInfo&)>& change);
  std::vector<ClientInfo> list() const;
  // Closes the clients matching `match`, except that `self` is closed gracefully; returns how
  // many matched.
  std::size_t kill(const std::function<bool(const ClientInfo&)>& match, uint64_t self);

  // One CLIENT LIST / CLIENT INFO line (Redis's field names), ending in "\n".
  static std::string describe(const ClientInfo& info);

 private:
  struct Entry {
    ClientInfo info;
    std::function<void(bool)> close;
  };
  mutable std::mutex mu_;
  std::map<uint64_t, Entry> clients_;
};

}  // namespace sierra::server
