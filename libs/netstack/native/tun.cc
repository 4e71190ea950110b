// TUN device access for the user-space stack: open (TUNSETIFF, IFF_TUN|IFF_NO_PI, O_NONBLOCK, and when
// asked IFF_VNET_HDR with TUNSETOFFLOAD), read batches through a uv_poll_t (one Buffer plus packet
// offsets/lengths per callback, no busy polling), write batches, close. Everything else (parsing the
// virtio_net_hdr, TCP) lives in TypeScript.
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <vector>

namespace {

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& what) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("code", Napi::String::New(env, uv_err_name(uv_translate_sys_error(err))));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, what));
  return e;
}

constexpr int kVnetHdrLen = 10;  // struct virtio_net_hdr (no num_buffers)

// open(nameOrTemplate, vnetHdr) -> { fd, name, vnetHdr, offloads }. With vnetHdr every packet read or
// written starts with a virtio_net_hdr, and TUNSETOFFLOAD lets the kernel hand us unchecksummed TSO
// super-segments. A kernel that refuses IFF_VNET_HDR gives a plain TUN (vnetHdr false); one that refuses
// the offloads keeps the header (our GSO writes still work) with offloads 0.
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "open(name): name must be a string such as 'tel%d'").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = info[0].As<Napi::String>();
  if (name.size() >= IFNAMSIZ) {
    Napi::TypeError::New(env, "open(name): interface name longer than 15 characters").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    ErrnoError(env, errno, "open /dev/net/tun").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  bool vnet = info.Length() > 1 && info[1].ToBoolean().Value();
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  int rc = ioctl(fd, TUNSETIFF, &ifr);
  if (rc < 0 && vnet && errno == EINVAL) {
    vnet = false;
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    rc = ioctl(fd, TUNSETIFF, &ifr);
  }
  if (rc < 0) {
    int err = errno;
    ::close(fd);
    ErrnoError(env, err, "ioctl TUNSETIFF").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  unsigned int offloads = 0;
  if (vnet) {
    int hdrLen = kVnetHdrLen;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdrLen) < 0) {
      int err = errno;
      ::close(fd);
      ErrnoError(env, err, "ioctl TUNSETVNETHDRSZ").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const unsigned int wanted[] = {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, TUN_F_CSUM};
    for (unsigned int f : wanted) {
      if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)f) == 0) {
        offloads = f;
        break;
      }
    }
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("name", Napi::String::New(env, ifr.ifr_name));
  out.Set("vnetHdr", Napi::Boolean::New(env, vnet));
  out.Set("offloads", Napi::Number::New(env, offloads));
  return out;
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd >= 0) ::close(fd);
  return info.Env().Undefined();
}

// writePackets(fd, buffer, meta Int32Array [off,len]*, count) -> packets written. Packets the kernel
// cannot take right now (EAGAIN/ENOBUFS) are dropped like on a busy link; TCP retransmits them.
Napi::Value WritePackets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  Napi::Int32Array meta = info[2].As<Napi::Int32Array>();
  uint32_t count = info[3].As<Napi::Number>().Uint32Value();
  const uint8_t* base = buf.Data();
  size_t blen = buf.ByteLength();
  const int32_t* m = meta.Data();
  if (count * 2 > meta.ElementLength()) count = meta.ElementLength() / 2;
  uint32_t written = 0;
  for (uint32_t i = 0; i < count; i++) {
    int32_t off = m[2 * i], len = m[2 * i + 1];
    if (off < 0 || len <= 0 || (size_t)off + (size_t)len > blen) continue;
    ssize_t n;
    do {
      n = ::write(fd, base + off, (size_t)len);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == ENOBUFS || errno == EIO || errno == EINVAL) continue;
      ErrnoError(env, errno, "write tun").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    written++;
  }
  return Napi::Number::New(env, written);
}

// Packets are read straight into big slabs and handed to JS as external Buffers (one per batch), so the
// read path neither copies nor faults in fresh pages: a slab goes back to a small pool once the GC has
// finalized every batch Buffer cut from it (the flows may keep payload slices for a while).
constexpr size_t kSlabSize = 16u << 20;
constexpr size_t kPoolMax = 4;

struct Slab {
  uint8_t* data = nullptr;
  size_t used = 0;
  int refs = 0;          // batch Buffers not finalized yet
  bool retired = false;  // the poller moved on to another slab
};

std::mutex poolMutex;
std::vector<uint8_t*> pool;

uint8_t* AllocSlabMemory(napi_env env) {
  {
    std::lock_guard<std::mutex> lock(poolMutex);
    if (!pool.empty()) {
      uint8_t* p = pool.back();
      pool.pop_back();
      return p;
    }
  }
  void* p = aligned_alloc(2u << 20, kSlabSize);
  if (p == nullptr) return nullptr;
  madvise(p, kSlabSize, MADV_HUGEPAGE);  // fewer page faults the first time through; best effort
  int64_t total = 0;
  napi_adjust_external_memory(env, (int64_t)kSlabSize, &total);  // lets V8 schedule GCs for it
  return static_cast<uint8_t*>(p);
}

void ReleaseSlab(napi_env env, Slab* slab) {
  {
    std::lock_guard<std::mutex> lock(poolMutex);
    if (pool.size() < kPoolMax) {
      pool.push_back(slab->data);
      delete slab;
      return;
    }
  }
  free(slab->data);
  int64_t total = 0;
  napi_adjust_external_memory(env, -(int64_t)kSlabSize, &total);
  delete slab;
}

void FinalizeBatch(napi_env env, void* /*data*/, void* hint) {
  Slab* slab = static_cast<Slab*>(hint);
  if (--slab->refs == 0 && slab->retired) ReleaseSlab(env, slab);
}

class Poller : public Napi::ObjectWrap<Poller> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Poller",
                       {InstanceMethod("start", &Poller::Start), InstanceMethod("stop", &Poller::Stop)});
  }

  // new Poller(fd, meta Int32Array, maxPacket, headerLen, onPackets(buffer, count, errorCode?)): each read
  // takes up to headerLen + maxPacket bytes; the packet after the header starts 8-byte aligned.
  Poller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poller>(info) {
    Napi::Env env = info.Env();
    fd_ = info[0].As<Napi::Number>().Int32Value();
    Napi::Int32Array meta = info[1].As<Napi::Int32Array>();
    meta_ = Napi::Persistent(meta);
    maxBatch_ = meta.ElementLength() / 2;
    maxPacket_ = info[2].As<Napi::Number>().Uint32Value();
    headerLen_ = info[3].As<Napi::Number>().Uint32Value();
    pad_ = (8 - headerLen_ % 8) % 8;
    stride_ = (pad_ + headerLen_ + maxPacket_ + 7) & ~7u;
    callback_ = Napi::Persistent(info[4].As<Napi::Function>());
    context_ = new Napi::AsyncContext(env, "TunPoller");
  }

  ~Poller() override {
    StopPolling();
    RetireSlab(Env());
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
    uv_poll_start(handle_, UV_READABLE, &Poller::OnPoll);
    Ref();  // stay alive while polling
    return info.Env().Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPolling();
    return info.Env().Undefined();
  }

  void StopPolling() {
    if (handle_ == nullptr) return;
    uv_poll_stop(handle_);
    uv_close(reinterpret_cast<uv_handle_t*>(handle_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    handle_ = nullptr;
    RetireSlab(Env());
    Unref();
  }

  void RetireSlab(napi_env env) {
    if (slab_ == nullptr) return;
    slab_->retired = true;
    if (slab_->refs == 0) ReleaseSlab(env, slab_);
    slab_ = nullptr;
  }

  /** A slab with room for at least one more read; null when out of memory. */
  Slab* CurrentSlab(napi_env env) {
    if (slab_ != nullptr && slab_->used + stride_ <= kSlabSize) return slab_;
    RetireSlab(env);
    uint8_t* data = AllocSlabMemory(env);
    if (data == nullptr) return nullptr;
    slab_ = new Slab();
    slab_->data = data;
    return slab_;
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    Poller* self = static_cast<Poller*>(handle->data);
    self->ReadBatch(status);
  }

  void ReadBatch(int status) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      Deliver(env, 0, 0, uv_err_name(status));
      return;
    }
    int32_t* m = meta_.Value().Data();
    Slab* slab = CurrentSlab(env);
    if (slab == nullptr) {
      Deliver(env, 0, 0, "ENOMEM");
      return;
    }
    uint8_t* base = slab->data + slab->used;
    size_t room = kSlabSize - slab->used;
    uint32_t count = 0;
    size_t used = 0;
    const char* error = nullptr;
    while (count < maxBatch_ && used + stride_ <= room) {
      ssize_t n = ::read(fd_, base + used + pad_, headerLen_ + maxPacket_);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) error = uv_err_name(uv_translate_sys_error(errno));
        break;
      }
      if (n == 0) break;
      m[2 * count] = (int32_t)(used + pad_);
      m[2 * count + 1] = (int32_t)n;
      count++;
      used += (pad_ + (size_t)n + 7) & ~(size_t)7;  // packets 8-aligned so checksums can read 32-bit words
    }
    if (count > 0 || error != nullptr) Deliver(env, count, used, error);
  }

  void Deliver(Napi::Env env, uint32_t count, size_t used, const char* error) {
    Napi::Value buf = env.Null();
    if (count > 0) {
      Slab* slab = slab_;
      napi_value ext = nullptr;
      if (napi_create_external_buffer(env, used, slab->data + slab->used, FinalizeBatch, slab, &ext) == napi_ok) {
        slab->refs++;
        slab->used += used;
        buf = Napi::Value(env, ext);
      } else {
        buf = Napi::Buffer<uint8_t>::Copy(env, slab->data + slab->used, used);  // no external buffers here
      }
    }
    std::vector<napi_value> args = {buf, Napi::Number::New(env, count)};
    if (error != nullptr) args.push_back(Napi::String::New(env, error));
    callback_.MakeCallback(env.Global(), args, *context_);
  }

  int fd_ = -1;
  uint32_t maxBatch_ = 0, maxPacket_ = 0, headerLen_ = 0, pad_ = 0, stride_ = 0;
  Slab* slab_ = nullptr;
  uv_poll_t* handle_ = nullptr;
  Napi::Reference<Napi::Int32Array> meta_;
  Napi::FunctionReference callback_;
  Napi::AsyncContext* context_ = nullptr;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("writePackets", Napi::Function::New(env, WritePackets));
  exports.Set("Poller", Poller::Init(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(tun, Init)
