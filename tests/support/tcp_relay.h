// A TCP relay for tests that must cut or freeze the network between a
// client and a server, both on loopback (header-only C++).
#ifndef CPLUGIN_TESTS_TCP_RELAY_H
#define CPLUGIN_TESTS_TCP_RELAY_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace cp_test {

// A TCP relay on a loopback port to `target_port`. Cut() closes every
// relayed connection and turns new ones away until Restore(); Freeze()
// stops relaying without closing anything (a network that drops packets)
// until Thaw().
class Relay {
 public:
  explicit Relay(int target_port) : target_port_(target_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = Loopback(0);
    socklen_t len = sizeof a;
    bind(listen_fd_, reinterpret_cast<sockaddr *>(&a), sizeof a);
    listen(listen_fd_, 16);
    fcntl(listen_fd_, F_SETFL, O_NONBLOCK);  // poll can report a gone peer
    getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&a), &len);
    port_ = ntohs(a.sin_port);
    pipe(wake_);
    thread_ = std::thread([this] { Run(); });
  }

  ~Relay() {
    stop_ = true;
    Wake();
    thread_.join();
    CloseAll();
    close(listen_fd_);
    close(wake_[0]);
    close(wake_[1]);
  }

  std::string Target() const { return "127.0.0.1:" + std::to_string(port_); }
  void Cut() {
    cut_ = true;
    Wake();
  }
  void Restore() { cut_ = false; }
  // Returns once nothing is relayed any more.
  void Freeze() {
    frozen_ = true;
    Wake();
    while (!frozen_seen_) {
      usleep(1000);
    }
  }
  void Thaw() {
    frozen_ = false;
    frozen_seen_ = false;
    Wake();
  }

 private:
  static sockaddr_in Loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    return a;
  }

  void Wake() { (void)!write(wake_[1], "x", 1); }

  void CloseAll() {
    for (auto &p : pairs_) {
      close(p.first);
      close(p.second);
    }
    pairs_.clear();
  }

  void Accept() {
    int c = accept(listen_fd_, nullptr, nullptr);
    if (c < 0) {
      return;
    }
    int u = cut_ ? -1 : socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = Loopback(target_port_);
    if (u < 0 || connect(u, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
      close(c);
      if (u >= 0) {
        close(u);
      }
      return;
    }
    // Relayed as it comes: Nagle's algorithm on the relay would hold small
    // writes for the peer's delayed ACK (40 ms), which the endpoints,
    // talking directly, never see.
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pairs_.push_back({c, u});
  }

  // Copies what `from` has to `to`; false when either side is done.
  static bool Pump(int from, int to) {
    char buf[16384];
    ssize_t n = read(from, buf, sizeof buf);
    if (n <= 0) {
      return false;
    }
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(to, buf + off, static_cast<size_t>(n - off));
      if (w <= 0) {
        return false;
      }
      off += w;
    }
    return true;
  }

  void Run() {
    while (!stop_) {
      if (cut_) {
        CloseAll();
      }
      if (frozen_) {
        frozen_seen_ = true;
        pollfd wake = {wake_[0], POLLIN, 0};
        if (poll(&wake, 1, 100) > 0) {
          char drain[64];
          (void)!read(wake_[0], drain, sizeof drain);
        }
        continue;
      }
      std::vector<pollfd> fds = {{wake_[0], POLLIN, 0},
                                 {listen_fd_, POLLIN, 0}};
      for (auto &p : pairs_) {
        fds.push_back({p.first, POLLIN, 0});
        fds.push_back({p.second, POLLIN, 0});
      }
      if (poll(fds.data(), fds.size(), 100) <= 0) {
        continue;
      }
      if (fds[0].revents != 0) {
        char drain[64];
        (void)!read(wake_[0], drain, sizeof drain);
      }
      std::vector<std::pair<int, int>> alive;
      for (size_t i = 0; i < pairs_.size(); i++) {
        auto p = pairs_[i];
        bool ok = true;
        if (fds[2 * i + 2].revents != 0) {
          ok = Pump(p.first, p.second);
        }
        if (ok && fds[2 * i + 3].revents != 0) {
          ok = Pump(p.second, p.first);
        }
        if (ok) {
          alive.push_back(p);
        } else {
          close(p.first);
          close(p.second);
        }
      }
      pairs_.swap(alive);
      if (fds[1].revents != 0) {  // after the pairs fds[] was built from
        Accept();
      }
    }
  }

  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::atomic<bool> cut_{false};
  std::atomic<bool> frozen_{false};
  std::atomic<bool> frozen_seen_{false};
  std::vector<std::pair<int, int>> pairs_;
  std::thread thread_;
};

}  // namespace cp_test

#endif  // CPLUGIN_TESTS_TCP_RELAY_H
