// vmig_native: the small part of vmig's host layer that JavaScript cannot do.
//
// Only src/host/native.ts loads this addon; everything above src/host sees typed
// wrappers, never these functions.
//
// Why N-API plus a little V8
// --------------------------
// Every function is written against N-API (node_api.h): stable, C, and it gives
// us argument checks and error objects for free. N-API has one gap we need
// filled: it cannot create a SharedArrayBuffer, least of all one over memory it
// does not own (napi_create_external_arraybuffer makes a plain ArrayBuffer,
// which cannot be shared with worker threads or used by Atomics.wait). Guest RAM
// must be exactly that: a SharedArrayBuffer over our mmap of a memfd, so that
// vCPU workers share it zero-copy and other processes see the same pages
// through the fd. So NewSharedBuffer() below uses
// v8::SharedArrayBuffer::NewBackingStore(ptr, len, deleter, data) and hands the
// result back as a napi_value.
//
// We keep N-API for the module and for everything else, rather than writing
// the whole addon against node.h/V8, because the V8 surface is then one
// function instead of every argument check and every throw. The price is one
// conversion, v8::Local<v8::Value> -> napi_value, which N-API does not
// publish. In Node a napi_value *is* the pointer held by a v8::Local (Node's
// own js_native_api_v8.h converts with the same reinterpret_cast), and since
// the addon is always compiled from source against the headers of the Node
// that runs it (npm install -> node-gyp rebuild), both sides agree. The
// static_assert catches a layout change at build time.
//
// Conventions for adding a function
// ---------------------------------
// - Write `static napi_value Name(napi_env env, napi_callback_info info)`,
//   read arguments with the Get* helpers (they throw and return false), and add
//   one line to kExports at the bottom. Also add it to src/host/native.ts.
// - Failures throw an Error whose `code` is ERR_HOST_<CONDITION>. A failed
//   syscall throws ERR_HOST_SYSCALL_FAILED with `syscall`, `errno` and
//   `errnoName` properties and a message "<syscall> failed: <ENAME> (<text>)".
// - Release what you acquired on every failure path: the caller sees either a
//   result or an exception, never a leaked fd or mapping.
// - No global mutable state: the module is context-aware (NAPI_MODULE_INIT)
//   and may be loaded by several worker threads at once.

#include <node_api.h>
#include <v8.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

// ---------------------------------------------------------------------------
// Errors

// Returned by the Throw* helpers so callers can write `return Throw...(...)`;
// N-API turns a nullptr result into `undefined`, and the pending exception wins.
constexpr napi_value kThrown = nullptr;

// Sets `name` on `obj` to `value`; best effort, the error is thrown anyway.
void SetProp(napi_env env, napi_value obj, const char* name, napi_value value) {
  if (value != nullptr) napi_set_named_property(env, obj, name, value);
}

enum class ErrorKind { kError, kTypeError, kRangeError };

// Builds the error without throwing it: once an exception is pending, N-API
// refuses most calls, so extra properties must be set before napi_throw.
napi_value MakeError(napi_env env, ErrorKind kind, const char* code, const std::string& message) {
  napi_value js_code = nullptr;
  napi_value js_message = nullptr;
  napi_value error = nullptr;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &js_code) != napi_ok ||
      napi_create_string_utf8(env, message.c_str(), message.size(), &js_message) != napi_ok) {
    return nullptr;
  }
  switch (kind) {
    case ErrorKind::kTypeError: napi_create_type_error(env, js_code, js_message, &error); break;
    case ErrorKind::kRangeError: napi_create_range_error(env, js_code, js_message, &error); break;
    case ErrorKind::kError: napi_create_error(env, js_code, js_message, &error); break;
  }
  return error;
}

napi_value ThrowError(napi_env env, napi_value error, const char* code, const std::string& message) {
  // A napi call that failed may already have left an exception pending; keep
  // that one, it is the more precise.
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return kThrown;
  if (error != nullptr) {
    napi_throw(env, error);
  } else {
    napi_throw_error(env, code, message.c_str());  // could not build one (out of memory)
  }
  return kThrown;
}

napi_value Throw(napi_env env, ErrorKind kind, const char* code, const std::string& message) {
  return ThrowError(env, MakeError(env, kind, code, message), code, message);
}

// The symbolic name ("EBADF") is what people search for; the text is for humans.
const char* ErrnoName(int err) {
  const char* name = strerrorname_np(err);  // glibc >= 2.32
  return name != nullptr ? name : "EUNKNOWN";
}

napi_value ThrowSyscall(napi_env env, const char* syscall, int err) {
  const char* code = "ERR_HOST_SYSCALL_FAILED";
  std::string message = std::string(syscall) + " failed: " + ErrnoName(err) + " (" + std::strerror(err) + ")";
  napi_value error = MakeError(env, ErrorKind::kError, code, message);
  if (error != nullptr) {
    napi_value value = nullptr;
    napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &value);
    SetProp(env, error, "syscall", value);
    value = nullptr;
    napi_create_int32(env, err, &value);
    SetProp(env, error, "errno", value);
    value = nullptr;
    napi_create_string_utf8(env, ErrnoName(err), NAPI_AUTO_LENGTH, &value);
    SetProp(env, error, "errnoName", value);
  }
  return ThrowError(env, error, code, message);
}

// Shortest text that reads back as the same double ("1.5", "0", "1e+300").
std::string NumberText(double number) {
  char text[32];
  for (int precision = 1; precision <= 17; precision++) {
    std::snprintf(text, sizeof(text), "%.*g", precision, number);
    if (std::strtod(text, nullptr) == number) break;
  }
  return text;
}

// A napi_* call itself failed (not the syscall): an addon bug or an exhausted VM.
napi_value ThrowNapi(napi_env env, const char* what) {
  return Throw(env, ErrorKind::kError, "ERR_HOST_NAPI_FAILED", std::string("N-API call failed: ") + what);
}

// ---------------------------------------------------------------------------
// Arguments

bool GetArgs(napi_env env, napi_callback_info info, size_t expected, napi_value* argv) {
  size_t argc = expected;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) {
    ThrowNapi(env, "napi_get_cb_info");
    return false;
  }
  // Missing arguments arrive as `undefined` and fail the type checks below
  // with a message naming the argument, which is the useful error.
  return true;
}

// JS numbers are doubles; accept only exact integers in [min, max] so a
// fractional or huge byte count can never be silently truncated by a cast.
bool GetInteger(napi_env env, napi_value value, const char* name, double min, double max, double* out) {
  napi_valuetype type = napi_undefined;
  if (napi_typeof(env, value, &type) != napi_ok) {
    ThrowNapi(env, "napi_typeof");
    return false;
  }
  if (type != napi_number) {
    Throw(env, ErrorKind::kTypeError, "ERR_HOST_INVALID_ARG_TYPE", std::string(name) + " must be a number");
    return false;
  }
  double number = 0;
  if (napi_get_value_double(env, value, &number) != napi_ok) {
    ThrowNapi(env, "napi_get_value_double");
    return false;
  }
  if (!std::isfinite(number) || std::trunc(number) != number || number < min || number > max) {
    Throw(env, ErrorKind::kRangeError, "ERR_HOST_OUT_OF_RANGE",
          std::string(name) + " must be an integer in [" + std::to_string(static_cast<int64_t>(min)) + ", " +
              std::to_string(static_cast<int64_t>(max)) + "], got " + NumberText(number));
    return false;
  }
  *out = number;
  return true;
}

bool GetFd(napi_env env, napi_value value, int* out) {
  double number = 0;
  if (!GetInteger(env, value, "fd", 0, INT32_MAX, &number)) return false;
  *out = static_cast<int>(number);
  return true;
}

// 2^53 - 1: every integer up to it is exact in a double, and it fits both
// size_t and off_t on the 64-bit Linux hosts vmig supports.
constexpr double kMaxSafeInteger = 9007199254740991.0;
static_assert(sizeof(size_t) >= 8 && sizeof(off_t) >= 8, "vmig_native needs a 64-bit host");

bool GetByteLength(napi_env env, napi_value value, size_t* out) {
  double number = 0;
  if (!GetInteger(env, value, "byteLength", 1, kMaxSafeInteger, &number)) return false;
  *out = static_cast<size_t>(number);
  return true;
}

// `max_bytes` excludes the terminating NUL. Strings with an embedded NUL are
// refused: C would silently cut them short.
bool GetString(napi_env env, napi_value value, const char* name, size_t max_bytes, std::string* out) {
  napi_valuetype type = napi_undefined;
  if (napi_typeof(env, value, &type) != napi_ok) {
    ThrowNapi(env, "napi_typeof");
    return false;
  }
  if (type != napi_string) {
    Throw(env, ErrorKind::kTypeError, "ERR_HOST_INVALID_ARG_TYPE", std::string(name) + " must be a string");
    return false;
  }
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, nullptr, 0, &length) != napi_ok) {
    ThrowNapi(env, "napi_get_value_string_utf8");
    return false;
  }
  if (length > max_bytes) {
    Throw(env, ErrorKind::kRangeError, "ERR_HOST_OUT_OF_RANGE",
          std::string(name) + " must be at most " + std::to_string(max_bytes) + " UTF-8 bytes, got " +
              std::to_string(length));
    return false;
  }
  std::string buffer(length + 1, '\0');
  if (napi_get_value_string_utf8(env, value, buffer.data(), buffer.size(), &length) != napi_ok) {
    ThrowNapi(env, "napi_get_value_string_utf8");
    return false;
  }
  buffer.resize(length);
  if (buffer.find('\0') != std::string::npos) {
    Throw(env, ErrorKind::kTypeError, "ERR_HOST_INVALID_ARG_TYPE", std::string(name) + " must not contain NUL");
    return false;
  }
  *out = std::move(buffer);
  return true;
}

// ---------------------------------------------------------------------------
// SharedArrayBuffer over external memory (the one place V8 is used; see top).

static_assert(sizeof(v8::Local<v8::Value>) == sizeof(napi_value),
              "napi_value is no longer a v8::Local; NewSharedBuffer needs rework");

napi_value FromV8(v8::Local<v8::Value> local) {
  return reinterpret_cast<napi_value>(*local);
}

// Runs on whichever thread drops the last reference (main or any worker that
// received the buffer), possibly long after closeFd: the mapping keeps the
// memfd's pages alive on its own, and munmap is thread-safe.
void UnmapDeleter(void* data, size_t length, void* /*deleter_data*/) {
  munmap(data, length);
}

// Takes ownership of [data, data + length): on return it is owned by the
// SharedArrayBuffer's backing store, which is shared (not copied) when the
// buffer is posted to a worker and is unmapped when the last holder is gone.
napi_value NewSharedBuffer(napi_env env, void* data, size_t length) {
  // N-API does not expose the isolate; the calling thread's current one is
  // right, including in a worker thread (each has its own isolate).
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  std::unique_ptr<v8::BackingStore> store =
      v8::SharedArrayBuffer::NewBackingStore(data, length, UnmapDeleter, nullptr);
  // From here on `store` owns the mapping; any early return unmaps it.
  v8::Local<v8::SharedArrayBuffer> buffer = v8::SharedArrayBuffer::New(isolate, std::move(store));
  if (buffer.IsEmpty()) return ThrowNapi(env, "v8::SharedArrayBuffer::New");
  return FromV8(buffer.As<v8::Value>());
}

// ---------------------------------------------------------------------------
// Exported functions

// Linux limits memfd names to NAME_MAX minus the "memfd:" prefix /proc shows.
constexpr size_t kMemfdNameMax = 249;

// memfdCreate(name: string, byteLength: number): number
//
// MFD_CLOEXEC: the fd must not leak into child processes (the bench spawns
// many); it is handed to other processes explicitly with SCM_RIGHTS.
// Sealing SHRINK: the fd will be shared with other processes (vhost-user
// backends); if anyone could truncate it, every mapping of it would take
// SIGBUS on the lost pages and kill the VMM. GROW is sealed too because the
// region's size is fixed for its lifetime. Like QEMU's memfd backend.
napi_value MemfdCreate(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return kThrown;
  std::string name;
  size_t byte_length = 0;
  if (!GetString(env, argv[0], "name", kMemfdNameMax, &name)) return kThrown;
  if (!GetByteLength(env, argv[1], &byte_length)) return kThrown;

  int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return ThrowSyscall(env, "memfd_create", errno);
  if (ftruncate(fd, static_cast<off_t>(byte_length)) != 0) {
    int err = errno;
    close(fd);
    return ThrowSyscall(env, "ftruncate", err);
  }
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) {
    int err = errno;
    close(fd);
    return ThrowSyscall(env, "fcntl(F_ADD_SEALS)", err);
  }

  napi_value result = nullptr;
  if (napi_create_int32(env, fd, &result) != napi_ok) {
    close(fd);
    return ThrowNapi(env, "napi_create_int32");
  }
  return result;
}

// mapShared(fd: number, byteLength: number): SharedArrayBuffer
//
// Maps from offset 0. Refuses to map past the end of the file: touching such
// pages raises SIGBUS, which would kill the process instead of throwing.
napi_value MapShared(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return kThrown;
  int fd = -1;
  size_t byte_length = 0;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  if (!GetByteLength(env, argv[1], &byte_length)) return kThrown;

  struct stat st {};
  if (fstat(fd, &st) != 0) return ThrowSyscall(env, "fstat", errno);
  if (st.st_size < 0 || static_cast<size_t>(st.st_size) < byte_length) {
    return Throw(env, ErrorKind::kRangeError, "ERR_HOST_FD_TOO_SMALL",
                 "cannot map " + std::to_string(byte_length) + " bytes of fd " + std::to_string(fd) +
                     ": the file holds only " + std::to_string(st.st_size));
  }

  void* data = mmap(nullptr, byte_length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) return ThrowSyscall(env, "mmap", errno);
  return NewSharedBuffer(env, data, byte_length);
}

// closeFd(fd: number): void
//
// On Linux the fd is released even when close() reports EINTR, so retrying
// could close an fd another thread just opened; EINTR counts as success.
napi_value CloseFd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return kThrown;
  int fd = -1;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  if (close(fd) != 0 && errno != EINTR) return ThrowSyscall(env, "close", errno);
  return nullptr;  // undefined
}

// pageSize(): number
napi_value PageSize(napi_env env, napi_callback_info /*info*/) {
  long size = sysconf(_SC_PAGESIZE);
  if (size <= 0) return ThrowSyscall(env, "sysconf(_SC_PAGESIZE)", errno != 0 ? errno : EINVAL);
  napi_value result = nullptr;
  if (napi_create_int64(env, size, &result) != napi_ok) return ThrowNapi(env, "napi_create_int64");
  return result;
}

// ---------------------------------------------------------------------------
// Registration: one line per exported function.

struct Export {
  const char* name;
  napi_callback callback;
};

constexpr Export kExports[] = {
    {"memfdCreate", MemfdCreate},
    {"mapShared", MapShared},
    {"closeFd", CloseFd},
    {"pageSize", PageSize},
};

}  // namespace

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  constexpr size_t kCount = sizeof(kExports) / sizeof(kExports[0]);
  napi_property_descriptor descriptors[kCount];
  for (size_t i = 0; i < kCount; i++) {
    descriptors[i] = napi_property_descriptor{
        kExports[i].name, nullptr, kExports[i].callback, nullptr, nullptr, nullptr, napi_enumerable, nullptr};
  }
  if (napi_define_properties(env, exports, kCount, descriptors) != napi_ok) {
    ThrowNapi(env, "napi_define_properties");
    return nullptr;
  }
  return exports;
}
