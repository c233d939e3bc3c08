#include "server/commands/client_registry.hpp"

#include <fmt/format.h>

#include <utility>

namespace sierra::server {

void ClientRegistry::add(ClientInfo info, std::function<void(bool)> close) {
  std::lock_guard lock(mu_);
  const uint64_t id = info.id;
  clients_[id] = Entry{std::move(info), std::move(close)};
}

void ClientRegistry::remove(uint64_t id) {
  std::lock_guard lock(mu_);
  clients_.erase(id);
}

void ClientRegistry::update(uint64_t id, const std::function<void(ClientInfo&)>& change) {
  std::lock_guard lock(mu_);
  auto it = clients_.find(id);
  if (it != clients_.end()) change(it->second.info);
}

std::vector<ClientInfo> ClientRegistry::list() const {
  std::lock_guard lock(mu_);
  std::vector<ClientInfo> out;
  out.reserve(clients_.size());
  for (const auto& [id, e] : clients_) out.push_back(e.info);
  return out;
}

std::size_t ClientRegistry::kill(const std::function<bool(const ClientInfo&)>& match,
                                 uint64_t self) {
  std::vector<std::pair<std::function<void(bool)>, bool>> victims;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : clients_) {
      if (match(e.info)) victims.emplace_back(e.close, id == self);
    }
  }
  // Outside the lock: closing unregisters.
  for (auto& [close, graceful] : victims) {
    if (close) close(graceful);
  }
  return victims.size();
}

std::string ClientRegistry::describe(const ClientInfo& c) {
  const auto age = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::steady_clock::now() - c.connected)
                       .count();
  return fmt::format(
      "id={} addr={} laddr={} fd=-1 name={} age={} idle=0 flags={} db=0 sub=0 psub=0 ssub=0 "
      "multi={} cmd={} resp={} lib-name={} lib-ver={}\n",
      c.id, c.addr, c.laddr, c.name, age, c.multi >= 0 ? "x" : "N", c.multi,
      c.cmd.empty() ? "NULL" : c.cmd, c.resp, c.lib_name, c.lib_ver);
}

}  // namespace sierra::server
