// Batched UDP for the DNS server on Linux: one non-blocking socket, received with recvmmsg into a buffer the
// JS side owns (no allocation per datagram or per batch), answered with sendmmsg. A uv_poll_t drives it;
// JS gets one callback per batch. Everything about DNS lives in TypeScript.
//
// Meta layout, shared with src/udp/native-addon.ts: STRIDE int32 per datagram:
//   [offset, length, family (4|6), port, addr0, addr1, addr2, addr3, scopeId, unused]
// addr words hold the raw network-order address bytes (IPv4 in addr0 only).
#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

constexpr uint32_t STRIDE = 10;
constexpr uint32_t MAX_BATCH = 1024;
// Batches read per poll wake-up before yielding to the event loop (timers, TCP, other sockets).
constexpr int BATCHES_PER_WAKEUP = 8;

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& what) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("code", Napi::String::New(env, uv_err_name(uv_translate_sys_error(err))));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, what));
  return e;
}

socklen_t ToSockaddr(const int32_t* m, sockaddr_storage* ss) {
  memset(ss, 0, sizeof(*ss));
  if (m[2] == 6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(m[3]));
    memcpy(&a->sin6_addr, &m[4], 16);
    a->sin6_scope_id = static_cast<uint32_t>(m[8]);
    return sizeof(sockaddr_in6);
  }
  auto* a = reinterpret_cast<sockaddr_in*>(ss);
  a->sin_family = AF_INET;
  a->sin_port = htons(static_cast<uint16_t>(m[3]));
  memcpy(&a->sin_addr, &m[4], 4);
  return sizeof(sockaddr_in);
}

void FromSockaddr(const sockaddr_storage* ss, int32_t* m) {
  m[4] = m[5] = m[6] = m[7] = m[8] = 0;
  if (ss->ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(ss);
    m[2] = 6;
    m[3] = ntohs(a->sin6_port);
    memcpy(&m[4], &a->sin6_addr, 16);
    m[8] = static_cast<int32_t>(a->sin6_scope_id);
  } else {
    auto* a = reinterpret_cast<const sockaddr_in*>(ss);
    m[2] = 4;
    m[3] = ntohs(a->sin_port);
    memcpy(&m[4], &a->sin_addr, 4);
  }
}

// open(address, port, bufferBytes) -> { fd, port }. Binds a non-blocking UDP socket; buffer sizes are asked
// of the kernel like node:dgram's recvBufferSize/sendBufferSize (capped at net.core.[rw]mem_max).
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "open(address, port, bufferBytes)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string address = info[0].As<Napi::String>();
  uint32_t port = info[1].As<Napi::Number>().Uint32Value();
  int bufferBytes = info[2].As<Napi::Number>().Int32Value();
  sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  socklen_t len;
  // The scope of a link-local address ("fe80::1%eth0") is not supported: the server binds plain addresses.
  if (inet_pton(AF_INET, address.c_str(), &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, address.c_str(), &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr) == 1) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
  } else {
    Napi::TypeError::New(env, "open: \"" + address + "\" is not an IP address").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ErrnoError(env, errno, "socket").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (bufferBytes > 0) {
    // Best effort, as in node:dgram: the kernel caps the value silently.
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufferBytes, sizeof(bufferBytes));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufferBytes, sizeof(bufferBytes));
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    int err = errno;
    ::close(fd);
    ErrnoError(env, err, "bind").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  sockaddr_storage bound;
  socklen_t blen = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
  int32_t boundMeta[STRIDE];
  FromSockaddr(&bound, boundMeta);
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("port", Napi::Number::New(env, boundMeta[3]));
  return out;
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd >= 0) ::close(fd);
  return info.Env().Undefined();
}

// bufferSizes(fd) -> [rcvbuf, sndbuf] as the kernel reports them (for tests and diagnostics).
Napi::Value BufferSizes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int r = 0, s = 0;
  socklen_t l = sizeof(int);
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &r, &l);
  l = sizeof(int);
  getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &s, &l);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, r));
  out.Set(1u, Napi::Number::New(env, s));
  return out;
}

// addressName(meta, index) -> "127.0.0.1" / "::1": the source address of datagram `index` as text.
Napi::Value AddressName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Int32Array meta = info[0].As<Napi::Int32Array>();
  uint32_t index = info[1].As<Napi::Number>().Uint32Value();
  if ((index + 1) * STRIDE > meta.ElementLength()) {
    Napi::RangeError::New(env, "addressName: index out of range").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int32_t* m = meta.Data() + index * STRIDE;
  char text[INET6_ADDRSTRLEN];
  const char* ok = inet_ntop(m[2] == 6 ? AF_INET6 : AF_INET, &m[4], text, sizeof(text));
  return Napi::String::New(env, ok != nullptr ? text : "");
}

// sendBatch(fd, buffer, meta, count, status Int32Array[2]) -> datagrams done (sent, or dropped on a hard
// error: status[0] counts those, status[1] keeps the last errno). Fewer than count means the socket's send
// buffer is full (EAGAIN): the caller keeps the rest and waits until the socket is writable.
Napi::Value SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  Napi::Int32Array meta = info[2].As<Napi::Int32Array>();
  uint32_t count = info[3].As<Napi::Number>().Uint32Value();
  Napi::Int32Array status = info[4].As<Napi::Int32Array>();
  if (status.ElementLength() < 2) {
    Napi::RangeError::New(env, "sendBatch: status needs 2 elements").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint8_t* base = buf.Data();
  size_t blen = buf.ByteLength();
  const int32_t* m = meta.Data();
  if (count * STRIDE > meta.ElementLength()) count = meta.ElementLength() / STRIDE;
  int32_t* st = status.Data();
  st[0] = 0;
  st[1] = 0;
  constexpr uint32_t CHUNK = 64;
  mmsghdr hdrs[CHUNK];
  iovec iovs[CHUNK];
  sockaddr_storage addrs[CHUNK];
  uint32_t done = 0;
  while (done < count) {
    uint32_t n = 0;
    for (; n < CHUNK && done + n < count; n++) {
      const int32_t* d = m + (done + n) * STRIDE;
      int32_t off = d[0], len = d[1];
      if (off < 0 || len < 0 || static_cast<size_t>(off) + static_cast<size_t>(len) > blen) off = len = 0;
      iovs[n].iov_base = base + off;
      iovs[n].iov_len = static_cast<size_t>(len);
      memset(&hdrs[n], 0, sizeof(mmsghdr));
      hdrs[n].msg_hdr.msg_name = &addrs[n];
      hdrs[n].msg_hdr.msg_namelen = ToSockaddr(d, &addrs[n]);
      hdrs[n].msg_hdr.msg_iov = &iovs[n];
      hdrs[n].msg_hdr.msg_iovlen = 1;
    }
    int sent = sendmmsg(fd, hdrs, n, 0);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      // This datagram cannot be sent (e.g. an unreachable destination): drop it, go on with the rest.
      st[0]++;
      st[1] = errno;
      done++;
      continue;
    }
    done += static_cast<uint32_t>(sent);
  }
  return Napi::Number::New(env, done);
}

class Poller : public Napi::ObjectWrap<Poller> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Poller",
                       {InstanceMethod("start", &Poller::Start), InstanceMethod("stop", &Poller::Stop),
                        InstanceMethod("watchWritable", &Poller::WatchWritable)});
  }

  // new Poller(fd, buffer Uint8Array, meta Int32Array, slotBytes, onEvent(kind, count, error?))
  // kind 1: `count` datagrams are in buffer/meta (valid during the call only); kind 2: writable again.
  Poller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poller>(info) {
    Napi::Env env = info.Env();
    fd_ = info[0].As<Napi::Number>().Int32Value();
    Napi::Uint8Array buffer = info[1].As<Napi::Uint8Array>();
    Napi::Int32Array meta = info[2].As<Napi::Int32Array>();
    slotBytes_ = info[3].As<Napi::Number>().Uint32Value();
    buffer_ = Napi::Persistent(buffer);
    meta_ = Napi::Persistent(meta);
    callback_ = Napi::Persistent(info[4].As<Napi::Function>());
    maxBatch_ = static_cast<uint32_t>(meta.ElementLength() / STRIDE);
    if (slotBytes_ > 0 && buffer.ByteLength() / slotBytes_ < maxBatch_) maxBatch_ = buffer.ByteLength() / slotBytes_;
    if (maxBatch_ > MAX_BATCH) maxBatch_ = MAX_BATCH;
    if (slotBytes_ == 0 || maxBatch_ == 0) {
      Napi::RangeError::New(env, "Poller: buffer and meta must hold at least one datagram").ThrowAsJavaScriptException();
      return;
    }
    // The headers point at fixed slots of the buffer (its memory does not move) and at fixed address
    // slots: set them up once; each round only resets what recvmmsg wrote (see OnEvents).
    hdrs_.assign(maxBatch_, mmsghdr{});
    iovs_.resize(maxBatch_);
    addrs_.resize(maxBatch_);
    uint8_t* base = buffer.Data();
    for (uint32_t i = 0; i < maxBatch_; i++) {
      iovs_[i].iov_base = base + static_cast<size_t>(i) * slotBytes_;
      iovs_[i].iov_len = slotBytes_;
      hdrs_[i].msg_hdr.msg_name = &addrs_[i];
      hdrs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      hdrs_[i].msg_hdr.msg_iov = &iovs_[i];
      hdrs_[i].msg_hdr.msg_iovlen = 1;
    }
    context_ = new Napi::AsyncContext(env, "DnsUdpPoller");
  }

  ~Poller() override {
    StopPolling();
    delete context_;
  }

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) return info.Env().Undefined();
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(info.Env(), &loop);
    handle_ = new uv_poll_t;
    int rc = uv_poll_init(loop, handle_, fd_);
    if (rc != 0) {
      delete handle_;
      handle_ = nullptr;
      Napi::Error::New(info.Env(), std::string("uv_poll_init: ") + uv_strerror(rc)).ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    handle_->data = this;
    writable_ = false;
    uv_poll_start(handle_, UV_READABLE, &Poller::OnPoll);
    Ref();  // stay alive while polling
    return info.Env().Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPolling();
    return info.Env().Undefined();
  }

  // watchWritable(on): also report (kind 2) when the socket can take datagrams again.
  Napi::Value WatchWritable(const Napi::CallbackInfo& info) {
    bool on = info[0].ToBoolean().Value();
    if (handle_ != nullptr && on != writable_) {
      writable_ = on;
      uv_poll_start(handle_, UV_READABLE | (on ? UV_WRITABLE : 0), &Poller::OnPoll);
    }
    return info.Env().Undefined();
  }

  void StopPolling() {
    if (handle_ == nullptr) return;
    uv_poll_stop(handle_);
    uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    handle_ = nullptr;
    Unref();
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    static_cast<Poller*>(handle->data)->OnEvents(status, events);
  }

  void OnEvents(int status, int events) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      Deliver(env, 1, 0, uv_err_name(status));
      return;
    }
    if ((events & UV_WRITABLE) != 0) {
      Deliver(env, 2, 0, nullptr);
      if (handle_ == nullptr) return;  // stopped by the callback
    }
    if ((events & UV_READABLE) == 0) return;
    for (int round = 0; round < BATCHES_PER_WAKEUP && handle_ != nullptr; round++) {
      int32_t* m = meta_.Value().Data();
      int n;
      do {
        n = recvmmsg(fd_, hdrs_.data(), maxBatch_, MSG_DONTWAIT, nullptr);
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          Deliver(env, 1, 0, uv_err_name(uv_translate_sys_error(errno)));
        }
        return;
      }
      if (n == 0) return;
      for (int i = 0; i < n; i++) {
        int32_t* d = m + static_cast<size_t>(i) * STRIDE;
        d[0] = static_cast<int32_t>(static_cast<size_t>(i) * slotBytes_);
        // A datagram longer than the slot arrives cut to slotBytes (MSG_TRUNC); the caller sizes slots one
        // byte above the largest message it accepts, so a cut one still reads as too large.
        d[1] = static_cast<int32_t>(hdrs_[i].msg_len);
        FromSockaddr(&addrs_[i], d);
        // recvmmsg wrote the address length (and msg_len, msg_flags, which it overwrites next time).
        hdrs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      }
      Deliver(env, 1, static_cast<uint32_t>(n), nullptr);
      if (static_cast<uint32_t>(n) < maxBatch_) return;  // drained
    }
  }

  void Deliver(Napi::Env env, int kind, uint32_t count, const char* error) {
    napi_value args[3] = {Napi::Number::New(env, kind), Napi::Number::New(env, count),
                          error != nullptr ? Napi::String::New(env, error).As<Napi::Value>() : env.Undefined()};
    callback_.MakeCallback(env.Global(), 3, args, *context_);
  }

  int fd_ = -1;
  uint32_t maxBatch_ = 0, slotBytes_ = 0;
  bool writable_ = false;
  std::vector<mmsghdr> hdrs_;
  std::vector<iovec> iovs_;
  std::vector<sockaddr_storage> addrs_;
  uv_poll_t* handle_ = nullptr;
  Napi::Reference<Napi::Uint8Array> buffer_;
  Napi::Reference<Napi::Int32Array> meta_;
  Napi::FunctionReference callback_;
  Napi::AsyncContext* context_ = nullptr;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("bufferSizes", Napi::Function::New(env, BufferSizes));
  exports.Set("addressName", Napi::Function::New(env, AddressName));
  exports.Set("sendBatch", Napi::Function::New(env, SendBatch));
  exports.Set("Poller", Poller::Init(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(dns_udp, Init)
