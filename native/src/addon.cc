// addon.cc - N-API bindings (node-addon-api) for the TUN/UDP batch I/O in the C files.
//
// The JavaScript side (src/native/addon.ts) owns the pools: one Buffer of fixed slots and
// an Int32Array of descriptors per direction. Every call here handles a whole batch; the
// typed arrays are read in place, nothing is copied or allocated per packet. Readiness comes
// from uv_poll on Node's own loop and calls one JS function per wake-up.
#ifndef NAPI_DISABLE_CPP_EXCEPTIONS
#define NAPI_DISABLE_CPP_EXCEPTIONS
#endif
#include <napi.h>
#include <uv.h>
#include <cerrno>
#include <cstring>
#include <string>

extern "C" {
#include "dn.h"
}

namespace {

const char *errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case ENODEV: return "ENODEV";
    case ENOMEM: return "ENOMEM";
    case EIO: return "EIO";
    case ENOBUFS: return "ENOBUFS";
    case ERANGE: return "ERANGE";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENETUNREACH: return "ENETUNREACH";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ESRCH: return "ESRCH";
    default: return "EUNKNOWN";
  }
}

// Throw an Error carrying code/errno/syscall like Node's own system errors, so the TS layer
// can turn it into an explanation.
Napi::Value ThrowSys(Napi::Env env, int err, const char *stage) {
  if (err < 0) err = -err;
  std::string msg = std::string(stage) + ": " + std::strerror(err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, errno_name(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, stage));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const char *msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool IsU32(const Napi::Value &v) { return v.IsNumber(); }

// One napi_get_typedarray_info call gives type, data pointer (offset applied) and length, without
// materialising an ArrayBuffer handle as TypedArray::ArrayBuffer() does: these run several times
// per batch call, and that handle creation was most of a call's ~500 ns. A value that is not a
// typed array makes the call fail, so no IsTypedArray() check is needed first.
void *TypedData(const Napi::Value &v, napi_typedarray_type *type, size_t *bytes) {
  napi_typedarray_type t = napi_uint8_array;
  size_t length = 0;
  void *data = nullptr;
  if (napi_get_typedarray_info(v.Env(), v, &t, &length, &data, nullptr, nullptr) != napi_ok) return nullptr;
  size_t elem = 1;
  switch (t) {
    case napi_int16_array: case napi_uint16_array: elem = 2; break;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
    default: elem = 1;
  }
  *type = t;
  *bytes = length * elem;
  return data;
}

template <typename T>
T *Bytes(const Napi::Value &v, size_t *len) {
  napi_typedarray_type t;
  return static_cast<T *>(TypedData(v, &t, len));
}

// A typed array of exactly type `want` holding at least `minBytes`, or nullptr.
template <typename T>
T *TypedAtLeast(const Napi::Value &v, napi_typedarray_type want, size_t minBytes) {
  napi_typedarray_type t = napi_uint8_array;
  size_t len = 0;
  T *d = static_cast<T *>(TypedData(v, &t, &len));
  return d && t == want && len >= minBytes ? d : nullptr;
}

int32_t *Desc(const Napi::Value &v, size_t needSlots) {
  return TypedAtLeast<int32_t>(v, napi_int32_array, needSlots * DN_DESC_STRIDE * sizeof(int32_t));
}

double *Stats(const Napi::Value &v) { return TypedAtLeast<double>(v, napi_float64_array, ST_COUNT * sizeof(double)); }

std::string NetnsArg(const Napi::Value &v) { return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string(); }

// ---------------- key table (crypto.h) ----------------
struct Keys {
  dn_keys *k = nullptr;
  Napi::Reference<Napi::Value> shared;
};

void KeysFinalize(Napi::Env, Keys *k) {
  dn_keys_free(k->k);
  delete k;
}

Keys *GetKeys(const Napi::Value &v) {
  if (!v.IsExternal()) return nullptr;
  Keys *k = v.As<Napi::External<Keys>>().Data();
  return k && k->k ? k : nullptr;
}

// keysOpen(shared, sets) -> handle ; shared: a Uint8Array (may sit on a SharedArrayBuffer) of
// sets * KEYSET_STRIDE bytes, 8-byte aligned, that JS reads the counters from
Napi::Value KeysOpen(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  size_t len = 0;
  uint8_t *sh = Bytes<uint8_t>(info[0], &len);
  if (!sh || !info[1].IsNumber()) return ThrowType(env, "keysOpen(shared, sets)");
  int64_t sets = info[1].As<Napi::Number>().Int64Value();
  if (sets < 2 || sets > 65536 || (size_t)sets * DN_KEYSET_STRIDE > len || reinterpret_cast<uintptr_t>(sh) % 8)
    return ThrowType(env, "keysOpen: the shared buffer must be 8-byte aligned and hold sets * KEYSET_STRIDE bytes (2..65536 sets)");
  Keys *k = new Keys();
  k->k = dn_keys_new(sh, (size_t)sets);
  if (!k->k) { delete k; return ThrowSys(env, ENOMEM, "keysOpen"); }
  k->shared = Napi::Persistent(info[0]);
  return Napi::External<Keys>::New(env, k, KeysFinalize);
}

// keysInstall(handle, set, keyId, suite, encKey, icvKey | null, ivLen, icvLen)
Napi::Value KeysInstall(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Keys *k = GetKeys(info[0]);
  size_t el = 0, il = 0;
  uint8_t *enc = Bytes<uint8_t>(info[4], &el);
  uint8_t *icv = info[5].IsNull() || info[5].IsUndefined() ? nullptr : Bytes<uint8_t>(info[5], &il);
  if (!k || !enc || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber() || !info[6].IsNumber() || !info[7].IsNumber())
    return ThrowType(env, "keysInstall(handle, set, keyId, suite, encKey, icvKey, ivLen, icvLen)");
  const char *why = "";
  int r = dn_keys_install(k->k, info[1].As<Napi::Number>().Uint32Value(), info[2].As<Napi::Number>().Int32Value(),
                          info[3].As<Napi::Number>().Int32Value(), enc, el, icv, il, info[6].As<Napi::Number>().Int32Value(),
                          info[7].As<Napi::Number>().Int32Value(), &why);
  if (r < 0) return ThrowType(env, (std::string("keysInstall: ") + why).c_str());
  return env.Undefined();
}

// keysRemove(handle, set, keyId): the key is wiped (OpenSSL contexts freed and cleansed)
Napi::Value KeysRemove(const Napi::CallbackInfo &info) {
  Keys *k = GetKeys(info[0]);
  if (k && info[1].IsNumber() && info[2].IsNumber())
    dn_keys_remove(k->k, info[1].As<Napi::Number>().Uint32Value(), info[2].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

// ---------------- TUN ----------------
struct Tun {
  dn_tun t;
  Napi::Reference<Napi::Value> stats;
  Napi::Reference<Napi::Value> keys;
  napi_env env = nullptr;
};

void TunCleanup(void *arg) { dn_tun_close(&static_cast<Tun *>(arg)->t); }

void TunFinalize(Napi::Env env, Tun *t) {
  if (t->t.fd >= 0) {
    napi_remove_env_cleanup_hook(env, TunCleanup, t);
    dn_tun_close(&t->t);
  }
  delete t;
}

Tun *GetTun(const Napi::Value &v) {
  if (!v.IsExternal()) return nullptr;
  Tun *t = v.As<Napi::External<Tun>>().Data();
  return t && t->t.fd >= 0 ? t : nullptr;
}

// tunOpen(name, netns, multiQueue, offloads, stats) -> { handle, fd, name, ifindex, offloads }
Napi::Value TunOpen(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsString() || !IsU32(info[3])) return ThrowType(env, "tunOpen(name, netns, multiQueue, offloads, stats)");
  double *st = Stats(info[4]);
  if (!st) return ThrowType(env, "tunOpen: stats must be a Float64Array of ST_COUNT entries");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string ns = NetnsArg(info[1]);
  bool mq = info[2].ToBoolean();
  unsigned want = info[3].As<Napi::Number>().Uint32Value();
  int saved;
  int r = dn_netns_enter(ns.c_str(), &saved);
  if (r < 0) return ThrowSys(env, r, "setns");
  Tun *t = new Tun();
  char outName[32];
  int ifindex = 0;
  const char *stage = "";
  r = dn_tun_open(&t->t, name.c_str(), mq, want, outName, &ifindex, &stage);
  dn_netns_leave(saved);
  if (r < 0) { delete t; return ThrowSys(env, r, stage); }
  t->t.stats = st;
  t->stats = Napi::Persistent(info[4]);
  t->env = env;
  napi_add_env_cleanup_hook(env, TunCleanup, t);
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", Napi::External<Tun>::New(env, t, TunFinalize));
  o.Set("fd", Napi::Number::New(env, t->t.fd));
  o.Set("name", Napi::String::New(env, outName));
  o.Set("ifindex", Napi::Number::New(env, ifindex));
  o.Set("offloads", Napi::Number::New(env, t->t.offloads));
  return o;
}

Napi::Value TunClose(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Tun *t = GetTun(info[0]);
  if (t) {
    napi_remove_env_cleanup_hook(env, TunCleanup, t);
    dn_tun_close(&t->t);
  }
  return env.Undefined();
}

struct BatchArgs {
  uint8_t *data;
  size_t dataLen;
  int32_t *desc;
  size_t slot;
};

bool GetBatch(const Napi::CallbackInfo &info, size_t first, size_t count, BatchArgs *b) {
  b->data = Bytes<uint8_t>(info[first], &b->dataLen);
  if (!b->data || !info[first + 2].IsNumber()) return false;
  b->slot = info[first + 2].As<Napi::Number>().Uint32Value();
  if (b->slot < 128 || b->slot * count > b->dataLen) return false;
  b->desc = Desc(info[first + 1], count);
  return b->desc != nullptr;
}

// keysBench(handle, set, plainLength, count) -> [ns per seal, ns per open] (dn_keys_bench)
Napi::Value KeysBench(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Keys *k = GetKeys(info[0]);
  if (!k || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber()) return ThrowType(env, "keysBench(handle, set, plainLength, count)");
  double out[2];
  if (dn_keys_bench(k->k, info[1].As<Napi::Number>().Int32Value(), info[2].As<Napi::Number>().Uint32Value(),
                    info[3].As<Napi::Number>().Int32Value(), out) != 0)
    return ThrowType(env, "keysBench: the set has no send key, or a segment did not seal and open");
  Napi::Array r = Napi::Array::New(env, 2);
  r.Set(0u, Napi::Number::New(env, out[0]));
  r.Set(1u, Napi::Number::New(env, out[1]));
  return r;
}

// keysOpenBatch(handle, data, desc, slot, count[, segSets]) -> datagrams opened (dn_keys_open_batch;
// segSets: Int32Array, 64 per slot, the set of each datagram of slots flagged DN_F_SEG_KEYS)
Napi::Value KeysOpenBatch(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Keys *k = GetKeys(info[0]);
  if (!k || !info[4].IsNumber()) return ThrowType(env, "keysOpenBatch(handle, data, desc, slot, count[, segSets])");
  int count = info[4].As<Napi::Number>().Int32Value();
  BatchArgs b;
  if (count < 0 || !GetBatch(info, 1, (size_t)count, &b)) return ThrowType(env, "keysOpenBatch: pool too small for the batch");
  const int32_t *seg = nullptr;
  size_t segLen = 0;
  if (info.Length() > 5 && !info[5].IsUndefined()) {
    napi_typedarray_type t = napi_uint8_array;
    size_t bytes = 0;
    seg = static_cast<const int32_t *>(TypedData(info[5], &t, &bytes));
    if (!seg || t != napi_int32_array) return ThrowType(env, "keysOpenBatch: segSets must be an Int32Array");
    segLen = bytes / sizeof(int32_t);
  }
  return Napi::Number::New(env, dn_keys_open_batch(k->k, b.data, b.dataLen, b.desc, b.slot, count, seg, segLen));
}

// tunRead(handle, data, desc, slot, headroom, max) -> packets read
Napi::Value TunRead(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Tun *t = GetTun(info[0]);
  if (!t) return ThrowType(env, "tunRead: closed or invalid TUN handle");
  int max = info[5].As<Napi::Number>().Int32Value();
  size_t head = info[4].As<Napi::Number>().Uint32Value();
  BatchArgs b;
  if (max <= 0 || !GetBatch(info, 1, (size_t)max, &b) || head < DN_VNET_LEN || head >= b.slot)
    return ThrowType(env, "tunRead: pool too small for the batch, or bad headroom");
  int err = 0;
  int n = dn_tun_read(&t->t, b.data, b.dataLen, b.desc, b.slot, head, max, &err);
  if (n == 0 && err) return ThrowSys(env, err, "read from TUN");
  return Napi::Number::New(env, n);
}

// tunWrite(handle, data, desc, slot, count) -> packets written
Napi::Value TunWrite(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Tun *t = GetTun(info[0]);
  if (!t) return ThrowType(env, "tunWrite: closed or invalid TUN handle");
  int count = info[4].As<Napi::Number>().Int32Value();
  BatchArgs b;
  if (count < 0 || !GetBatch(info, 1, (size_t)count, &b)) return ThrowType(env, "tunWrite: pool too small for the batch");
  int err = 0;
  int n = dn_tun_write(&t->t, b.data, b.dataLen, b.desc, b.slot, count, &err);
  return Napi::Number::New(env, n);
}

// tunSetKeys(handle, keys | null): slots with D.KEY are opened with this table on tunWrite
Napi::Value TunSetKeys(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Tun *t = GetTun(info[0]);
  Keys *k = info[1].IsNull() ? nullptr : GetKeys(info[1]);
  if (!t || (!k && !info[1].IsNull())) return ThrowType(env, "tunSetKeys(handle, keys | null)");
  t->t.keys = k ? k->k : nullptr;
  if (k) t->keys = Napi::Persistent(info[1]);
  else t->keys.Reset();
  return env.Undefined();
}

// ---------------- UDP ----------------
struct Udp {
  dn_udp u;
  Napi::Reference<Napi::Value> stats;
  Napi::Reference<Napi::Value> keys;
};

void UdpCleanup(void *arg) { dn_udp_close(&static_cast<Udp *>(arg)->u); }

void UdpFinalize(Napi::Env env, Udp *u) {
  if (u->u.fd >= 0) {
    napi_remove_env_cleanup_hook(env, UdpCleanup, u);
    dn_udp_close(&u->u);
  }
  delete u;
}

Udp *GetUdp(const Napi::Value &v) {
  if (!v.IsExternal()) return nullptr;
  Udp *u = v.As<Napi::External<Udp>>().Data();
  return u && u->u.fd >= 0 ? u : nullptr;
}

// udpOpen(family, addr, port, netns, bufsize, offloads, rxMax, stats) -> { handle, fd, port, offloads }
Napi::Value UdpOpen(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 8) return ThrowType(env, "udpOpen(family, addr, port, netns, bufsize, offloads, rxMax, stats)");
  int family = info[0].As<Napi::Number>().Int32Value();
  size_t alen = 0;
  uint8_t *addr = Bytes<uint8_t>(info[1], &alen);
  if ((family != 4 && family != 6) || !addr || alen != (family == 6 ? 16u : 4u))
    return ThrowType(env, "udpOpen: family must be 4 or 6 with a 4- or 16-byte address");
  int port = info[2].As<Napi::Number>().Int32Value();
  std::string ns = NetnsArg(info[3]);
  int bufsize = info[4].As<Napi::Number>().Int32Value();
  unsigned want = info[5].As<Napi::Number>().Uint32Value();
  int rxMax = info[6].As<Napi::Number>().Int32Value();
  double *st = Stats(info[7]);
  if (!st || rxMax <= 0 || rxMax > 1024 || port < 0 || port > 65535) return ThrowType(env, "udpOpen: bad stats array, rxMax or port");
  int saved;
  int r = dn_netns_enter(ns.c_str(), &saved);
  if (r < 0) return ThrowSys(env, r, "setns");
  Udp *u = new Udp();
  const char *stage = "";
  r = dn_udp_open(&u->u, family, addr, port, bufsize, want, rxMax, &stage);
  dn_netns_leave(saved);
  if (r < 0) { delete u; return ThrowSys(env, r, stage); }
  u->u.stats = st;
  u->stats = Napi::Persistent(info[7]);
  napi_add_env_cleanup_hook(env, UdpCleanup, u);
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", Napi::External<Udp>::New(env, u, UdpFinalize));
  o.Set("fd", Napi::Number::New(env, u->u.fd));
  o.Set("port", Napi::Number::New(env, u->u.local_port));
  o.Set("offloads", Napi::Number::New(env, u->u.offloads));
  return o;
}

Napi::Value UdpClose(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Udp *u = GetUdp(info[0]);
  if (u) {
    napi_remove_env_cleanup_hook(env, UdpCleanup, u);
    dn_udp_close(&u->u);
  }
  return env.Undefined();
}

Napi::Value UdpOffloads(const Napi::CallbackInfo &info) {
  Udp *u = GetUdp(info[0]);
  return Napi::Number::New(info.Env(), u ? u->u.offloads : 0);
}

// udpSetKeys(handle, keys | null): slots with D.KEY are sealed with this table on udpSend
Napi::Value UdpSetKeys(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Udp *u = GetUdp(info[0]);
  Keys *k = info[1].IsNull() ? nullptr : GetKeys(info[1]);
  if (!u || (!k && !info[1].IsNull())) return ThrowType(env, "udpSetKeys(handle, keys | null)");
  if (dn_udp_set_keys(&u->u, k ? k->k : nullptr) < 0) return ThrowSys(env, ENOMEM, "udpSetKeys");
  if (k) u->keys = Napi::Persistent(info[1]);
  else u->keys.Reset();
  return env.Undefined();
}

// udpSend(handle, data, desc, slot, count, addrs) -> datagrams sent
Napi::Value UdpSend(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Udp *u = GetUdp(info[0]);
  if (!u) return ThrowType(env, "udpSend: closed or invalid UDP handle");
  int count = info[4].As<Napi::Number>().Int32Value();
  BatchArgs b;
  size_t alen = 0;
  uint8_t *addrs = Bytes<uint8_t>(info[5], &alen);
  if (count < 0 || !addrs || !GetBatch(info, 1, (size_t)count, &b)) return ThrowType(env, "udpSend: pool too small for the batch, or bad address table");
  int err = 0;
  int n = dn_udp_send(&u->u, b.data, b.dataLen, b.desc, b.slot, count, addrs, alen / DN_ADDR_STRIDE, &err);
  return Napi::Number::New(env, n);
}

// udpRecv(handle, data, desc, slot, headroom, max, src, dst) -> messages received
Napi::Value UdpRecv(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Udp *u = GetUdp(info[0]);
  if (!u) return ThrowType(env, "udpRecv: closed or invalid UDP handle");
  int max = info[5].As<Napi::Number>().Int32Value();
  size_t head = info[4].As<Napi::Number>().Uint32Value();
  BatchArgs b;
  size_t sl = 0, dl = 0;
  uint8_t *src = Bytes<uint8_t>(info[6], &sl), *dst = Bytes<uint8_t>(info[7], &dl);
  if (max <= 0 || !GetBatch(info, 1, (size_t)max, &b) || !src || !dst || sl < (size_t)max * DN_ADDR_STRIDE ||
      dl < (size_t)max * DN_ADDR_STRIDE || head >= b.slot)
    return ThrowType(env, "udpRecv: pool or address tables too small for the batch");
  int err = 0;
  int n = dn_udp_recv(&u->u, b.data, b.dataLen, b.desc, b.slot, head, max, src, dst, &err);
  if (n == 0 && err) return ThrowSys(env, err, "recvmmsg");
  return Napi::Number::New(env, n);
}

// ---------------- rtnetlink ----------------
struct NsScope {
  int saved = -1, err = 0;
  explicit NsScope(const std::string &ns) { err = dn_netns_enter(ns.c_str(), &saved); }
  ~NsScope() { dn_netns_leave(saved); }
};

// linkSet(netns, ifindex, mtu, up) ; mtu 0 = unchanged, up -1 = unchanged
Napi::Value LinkSet(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  NsScope s(NetnsArg(info[0]));
  if (s.err) return ThrowSys(env, s.err, "setns");
  int r = dn_rtnl_link(info[1].As<Napi::Number>().Int32Value(), info[2].As<Napi::Number>().Int32Value(),
                       info[3].As<Napi::Number>().Int32Value());
  if (r < 0) return ThrowSys(env, r, "RTM_NEWLINK");
  return env.Undefined();
}

// addrAdd(netns, ifindex, family, addr, plen)
Napi::Value AddrAdd(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  size_t alen = 0;
  uint8_t *a = Bytes<uint8_t>(info[3], &alen);
  int family = info[2].As<Napi::Number>().Int32Value();
  if (!a || alen != (family == 6 ? 16u : 4u)) return ThrowType(env, "addrAdd: address bytes do not match the family");
  NsScope s(NetnsArg(info[0]));
  if (s.err) return ThrowSys(env, s.err, "setns");
  int r = dn_rtnl_addr(info[1].As<Napi::Number>().Int32Value(), family, a, info[4].As<Napi::Number>().Int32Value());
  if (r < 0) return ThrowSys(env, r, "RTM_NEWADDR");
  return env.Undefined();
}

// routeSet(netns, add, ifindex, family, dst, plen, metric)
Napi::Value RouteSet(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  size_t alen = 0;
  uint8_t *a = Bytes<uint8_t>(info[4], &alen);
  int family = info[3].As<Napi::Number>().Int32Value();
  if (!a || alen != (family == 6 ? 16u : 4u)) return ThrowType(env, "routeSet: prefix bytes do not match the family");
  bool add = info[1].ToBoolean();
  NsScope s(NetnsArg(info[0]));
  if (s.err) return ThrowSys(env, s.err, "setns");
  int r = dn_rtnl_route(add, info[2].As<Napi::Number>().Int32Value(), family, a, info[5].As<Napi::Number>().Int32Value(),
                        info[6].As<Napi::Number>().Int32Value());
  if (r < 0) return ThrowSys(env, r, add ? "RTM_NEWROUTE" : "RTM_DELROUTE");
  return env.Undefined();
}

// ---------------- readiness (uv_poll on Node's loop) ----------------
struct Watcher {
  uv_poll_t poll;
  napi_env env;
  Napi::FunctionReference cb;
  Napi::AsyncContext *actx;
  bool closed;
};

void OnPoll(uv_poll_t *h, int status, int /*events*/) {
  Watcher *w = static_cast<Watcher *>(h->data);
  if (w->closed) return;
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  Napi::Value arg = status < 0 ? Napi::Value(Napi::String::New(env, uv_strerror(status))) : env.Null();
  // MakeCallback runs microtasks afterwards and reports exceptions as uncaught, like any I/O callback
  w->cb.MakeCallback(env.Global(), { arg }, *w->actx);
  if (env.IsExceptionPending()) {
    Napi::Error e = env.GetAndClearPendingException();
    napi_fatal_exception(env, e.Value());
  }
}

void OnClosed(uv_handle_t *h) {
  Watcher *w = static_cast<Watcher *>(h->data);
  delete w->actx;
  delete w;
}

// watch(fd, cb) -> handle ; cb(error|null) runs whenever fd is readable
Napi::Value Watch(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsFunction()) return ThrowType(env, "watch(fd, callback)");
  uv_loop_t *loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return ThrowType(env, "watch: no event loop");
  Watcher *w = new Watcher();
  w->env = env;
  w->closed = false;
  w->cb = Napi::Persistent(info[1].As<Napi::Function>());
  w->actx = new Napi::AsyncContext(env, "decent:io");
  int r = uv_poll_init(loop, &w->poll, info[0].As<Napi::Number>().Int32Value());
  if (r < 0) { delete w->actx; delete w; return ThrowSys(env, -r, "uv_poll_init"); }
  w->poll.data = w;
  uv_poll_start(&w->poll, UV_READABLE, OnPoll);
  return Napi::External<Watcher>::New(env, w);
}

Napi::Value Unwatch(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) return ThrowType(env, "unwatch(handle)");
  Watcher *w = info[0].As<Napi::External<Watcher>>().Data();
  if (!w->closed) {
    w->closed = true;
    w->cb.Reset();
    uv_poll_stop(&w->poll);
    uv_close(reinterpret_cast<uv_handle_t *>(&w->poll), OnClosed);
  }
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("tunOpen", Napi::Function::New(env, TunOpen));
  exports.Set("tunClose", Napi::Function::New(env, TunClose));
  exports.Set("tunRead", Napi::Function::New(env, TunRead));
  exports.Set("tunWrite", Napi::Function::New(env, TunWrite));
  exports.Set("udpOpen", Napi::Function::New(env, UdpOpen));
  exports.Set("udpClose", Napi::Function::New(env, UdpClose));
  exports.Set("udpOffloads", Napi::Function::New(env, UdpOffloads));
  exports.Set("udpSend", Napi::Function::New(env, UdpSend));
  exports.Set("keysBench", Napi::Function::New(env, KeysBench));
  exports.Set("udpRecv", Napi::Function::New(env, UdpRecv));
  exports.Set("linkSet", Napi::Function::New(env, LinkSet));
  exports.Set("addrAdd", Napi::Function::New(env, AddrAdd));
  exports.Set("routeSet", Napi::Function::New(env, RouteSet));
  exports.Set("keysOpen", Napi::Function::New(env, KeysOpen));
  exports.Set("keysInstall", Napi::Function::New(env, KeysInstall));
  exports.Set("keysRemove", Napi::Function::New(env, KeysRemove));
  exports.Set("keysOpenBatch", Napi::Function::New(env, KeysOpenBatch));
  exports.Set("tunSetKeys", Napi::Function::New(env, TunSetKeys));
  exports.Set("udpSetKeys", Napi::Function::New(env, UdpSetKeys));
  exports.Set("watch", Napi::Function::New(env, Watch));
  exports.Set("unwatch", Napi::Function::New(env, Unwatch));
  Napi::Object c = Napi::Object::New(env);
  c.Set("DESC_STRIDE", Napi::Number::New(env, DN_DESC_STRIDE));
  c.Set("ADDR_STRIDE", Napi::Number::New(env, DN_ADDR_STRIDE));
  c.Set("STATS_COUNT", Napi::Number::New(env, ST_COUNT));
  c.Set("VNET_HDR_LEN", Napi::Number::New(env, DN_VNET_LEN));
  c.Set("KEYSET_STRIDE", Napi::Number::New(env, DN_KEYSET_STRIDE));
  c.Set("KEY_STRIDE", Napi::Number::New(env, DN_KEY_STRIDE));
  c.Set("KEY_OFFSET", Napi::Number::New(env, DN_KEY_OFFSET));
  exports.Set("constants", c);
  return exports;
}

}  // namespace

NODE_API_MODULE(decent_native, Init)
