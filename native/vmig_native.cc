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
// V8 appears in one more place: the fd poller's libuv callback (OnPoll). A
// libuv callback runs outside any JavaScript frame, so no v8::Context is
// entered, and N-API offers no way to enter one; napi_make_callback needs it
// (Node's InternalCallbackScope checks the current context, and creating an
// Error or reporting an uncaught exception needs one too). OnPoll therefore
// opens a v8::HandleScope and a v8::Context::Scope on the context captured when
// the poller was started, exactly as Node's own handle callbacks do, and uses
// N-API for everything inside.
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
// - Calls on non-blocking fds return -1 (or null) for EAGAIN instead of
//   throwing: "try again when the poller says so" is not an error. EINTR is
//   retried. Every fd the addon creates is O_CLOEXEC: the bench spawns many
//   processes, and fds reach other processes only on purpose (SCM_RIGHTS).
// - No global mutable state: the module is context-aware (NAPI_MODULE_INIT)
//   and may be loaded by several worker threads at once.

#include <node_api.h>
#include <v8.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include <fcntl.h>
#include <net/if.h>  // before linux/if_tun.h, which pulls in linux/if.h
#include <linux/if_tun.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

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

constexpr const char* kSyscallFailed = "ERR_HOST_SYSCALL_FAILED";

std::string SyscallMessage(const char* syscall, int err) {
  return std::string(syscall) + " failed: " + ErrnoName(err) + " (" + std::strerror(err) + ")";
}

// Builds (does not throw) the ERR_HOST_SYSCALL_FAILED error; the poller hands
// it to its callback instead of throwing. nullptr if it could not be built.
napi_value MakeSyscallError(napi_env env, const char* syscall, int err) {
  napi_value error = MakeError(env, ErrorKind::kError, kSyscallFailed, SyscallMessage(syscall, err));
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
  return error;
}

napi_value ThrowSyscall(napi_env env, const char* syscall, int err) {
  return ThrowError(env, MakeSyscallError(env, syscall, err), kSyscallFailed, SyscallMessage(syscall, err));
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

bool GetBool(napi_env env, napi_value value, const char* name, bool* out) {
  napi_valuetype type = napi_undefined;
  if (napi_typeof(env, value, &type) != napi_ok) {
    ThrowNapi(env, "napi_typeof");
    return false;
  }
  if (type != napi_boolean) {
    Throw(env, ErrorKind::kTypeError, "ERR_HOST_INVALID_ARG_TYPE", std::string(name) + " must be a boolean");
    return false;
  }
  if (napi_get_value_bool(env, value, out) != napi_ok) {
    ThrowNapi(env, "napi_get_value_bool");
    return false;
  }
  return true;
}

bool GetFunction(napi_env env, napi_value value, const char* name) {
  napi_valuetype type = napi_undefined;
  if (napi_typeof(env, value, &type) != napi_ok) {
    ThrowNapi(env, "napi_typeof");
    return false;
  }
  if (type != napi_function) {
    Throw(env, ErrorKind::kTypeError, "ERR_HOST_INVALID_ARG_TYPE", std::string(name) + " must be a function");
    return false;
  }
  return true;
}

// A u64 arrives as a bigint (DESIGN §11: 64-bit values are bigints); a negative
// or wider one is refused rather than wrapped.
bool GetBigUint64(napi_env env, napi_value value, const char* name, uint64_t max, uint64_t* out) {
  napi_valuetype type = napi_undefined;
  if (napi_typeof(env, value, &type) != napi_ok) {
    ThrowNapi(env, "napi_typeof");
    return false;
  }
  if (type != napi_bigint) {
    Throw(env, ErrorKind::kTypeError, "ERR_HOST_INVALID_ARG_TYPE", std::string(name) + " must be a bigint");
    return false;
  }
  bool lossless = false;
  if (napi_get_value_bigint_uint64(env, value, out, &lossless) != napi_ok) {
    ThrowNapi(env, "napi_get_value_bigint_uint64");
    return false;
  }
  if (!lossless || *out > max) {
    Throw(env, ErrorKind::kRangeError, "ERR_HOST_OUT_OF_RANGE",
          std::string(name) + " must be a bigint in [0, " + std::to_string(max) + "]");
    return false;
  }
  return true;
}

bool IsArray(napi_env env, napi_value value, const char* name, uint32_t* length) {
  bool is_array = false;
  if (napi_is_array(env, value, &is_array) != napi_ok) {
    ThrowNapi(env, "napi_is_array");
    return false;
  }
  if (!is_array) {
    Throw(env, ErrorKind::kTypeError, "ERR_HOST_INVALID_ARG_TYPE", std::string(name) + " must be an array");
    return false;
  }
  if (napi_get_array_length(env, value, length) != napi_ok) {
    ThrowNapi(env, "napi_get_array_length");
    return false;
  }
  return true;
}

// The bytes of any ArrayBufferView (a typed array of any element type, a
// Buffer, or a DataView), over an ArrayBuffer or a SharedArrayBuffer. For a
// SharedArrayBuffer (guest RAM) the pointer is stable; for an ArrayBuffer it is
// valid until JavaScript runs again, which is all a synchronous syscall needs.
// `data` may be null when the view is empty (or its buffer detached).
bool GetView(napi_env env, napi_value value, const char* name, uint8_t** data, size_t* byte_length) {
  bool is_typed_array = false;
  if (napi_is_typedarray(env, value, &is_typed_array) != napi_ok) {
    ThrowNapi(env, "napi_is_typedarray");
    return false;
  }
  if (is_typed_array) {
    napi_typedarray_type type = napi_uint8_array;
    size_t length = 0;
    void* bytes = nullptr;
    if (napi_get_typedarray_info(env, value, &type, &length, &bytes, nullptr, nullptr) != napi_ok) {
      ThrowNapi(env, "napi_get_typedarray_info");
      return false;
    }
    size_t element_size = 1;
    switch (type) {
      case napi_int8_array:
      case napi_uint8_array:
      case napi_uint8_clamped_array: element_size = 1; break;
      case napi_int16_array:
      case napi_uint16_array: element_size = 2; break;
      case napi_int32_array:
      case napi_uint32_array:
      case napi_float32_array: element_size = 4; break;
      case napi_float64_array:
      case napi_bigint64_array:
      case napi_biguint64_array: element_size = 8; break;
      default:
        Throw(env, ErrorKind::kTypeError, "ERR_HOST_INVALID_ARG_TYPE",
              std::string(name) + " is a typed array of an element type vmig_native does not know");
        return false;
    }
    *data = static_cast<uint8_t*>(bytes);
    *byte_length = length * element_size;
    return true;
  }
  bool is_data_view = false;
  if (napi_is_dataview(env, value, &is_data_view) != napi_ok) {
    ThrowNapi(env, "napi_is_dataview");
    return false;
  }
  if (!is_data_view) {
    Throw(env, ErrorKind::kTypeError, "ERR_HOST_INVALID_ARG_TYPE",
          std::string(name) + " must be a Uint8Array or another ArrayBufferView");
    return false;
  }
  void* bytes = nullptr;
  if (napi_get_dataview_info(env, value, byte_length, &bytes, nullptr, nullptr) != napi_ok) {
    ThrowNapi(env, "napi_get_dataview_info");
    return false;
  }
  *data = static_cast<uint8_t*>(bytes);
  return true;
}

// `offset` and `length` (bytes, relative to the view) must lie inside it.
bool GetSpan(napi_env env, napi_value view, napi_value offset_value, napi_value length_value, uint8_t** data,
             size_t* length) {
  uint8_t* base = nullptr;
  size_t byte_length = 0;
  if (!GetView(env, view, "buffer", &base, &byte_length)) return false;
  double offset = 0;
  double count = 0;
  if (!GetInteger(env, offset_value, "offset", 0, static_cast<double>(byte_length), &offset)) return false;
  if (!GetInteger(env, length_value, "length", 0, static_cast<double>(byte_length) - offset, &count)) return false;
  *data = base == nullptr ? nullptr : base + static_cast<size_t>(offset);
  *length = static_cast<size_t>(count);
  return true;
}

// Linux's UIO_MAXIOV; readv/writev refuse more segments.
constexpr uint32_t kIovMax = IOV_MAX;

// A Uint32Array argument: its words and how many (a TypeError for anything else).
bool GetWords(napi_env env, napi_value value, const char* name, uint32_t** words, size_t* count) {
  bool is_typed_array = false;
  if (napi_is_typedarray(env, value, &is_typed_array) != napi_ok) {
    ThrowNapi(env, "napi_is_typedarray");
    return false;
  }
  napi_typedarray_type type = napi_int8_array;
  void* data = nullptr;
  if (is_typed_array && napi_get_typedarray_info(env, value, &type, count, &data, nullptr, nullptr) != napi_ok) {
    ThrowNapi(env, "napi_get_typedarray_info");
    return false;
  }
  if (!is_typed_array || type != napi_uint32_array) {
    Throw(env, ErrorKind::kTypeError, "ERR_HOST_INVALID_ARG_TYPE", std::string(name) + " must be a Uint32Array");
    return false;
  }
  *words = static_cast<uint32_t*>(data);
  return true;
}

// The scatter list of fdReadv/fdWritev, without allocating per call: `views`
// is a (reused) array of ArrayBufferViews and `table` a Uint32Array of
// `count` triples (view index, byte offset, byte length). Guest buffers are
// descriptor chains scattered over one guest RAM SharedArrayBuffer, so the
// caller keeps one view of RAM in `views` and rewrites only the table.
bool GetIovec(napi_env env, napi_value views, napi_value table_value, napi_value count_value, struct iovec* iov,
              uint32_t* count_out) {
  uint32_t view_count = 0;
  if (!IsArray(env, views, "views", &view_count)) return false;
  uint32_t* table = nullptr;
  size_t table_length = 0;
  if (!GetWords(env, table_value, "table", &table, &table_length)) return false;
  double count = 0;
  double max_count = static_cast<double>(std::min<size_t>(kIovMax, table_length / 3));
  if (!GetInteger(env, count_value, "count", 0, max_count, &count)) return false;

  // Consecutive segments usually name the same view; look each one up once.
  uint32_t cached_index = UINT32_MAX;
  uint8_t* cached_data = nullptr;
  size_t cached_length = 0;
  for (uint32_t i = 0; i < static_cast<uint32_t>(count); i++) {
    uint32_t index = table[3 * i];
    uint64_t offset = table[3 * i + 1];
    uint64_t length = table[3 * i + 2];
    if (index != cached_index) {
      if (index >= view_count) {
        Throw(env, ErrorKind::kRangeError, "ERR_HOST_OUT_OF_RANGE",
              "segment " + std::to_string(i) + " names view " + std::to_string(index) + " of " +
                  std::to_string(view_count));
        return false;
      }
      napi_value view = nullptr;
      if (napi_get_element(env, views, index, &view) != napi_ok) {
        ThrowNapi(env, "napi_get_element");
        return false;
      }
      if (!GetView(env, view, "views[i]", &cached_data, &cached_length)) return false;
      cached_index = index;
    }
    if (offset + length > cached_length) {
      Throw(env, ErrorKind::kRangeError, "ERR_HOST_OUT_OF_RANGE",
            "segment " + std::to_string(i) + " [" + std::to_string(offset) + ", +" + std::to_string(length) +
                ") lies outside its view of " + std::to_string(cached_length) + " bytes");
      return false;
    }
    iov[i].iov_base = cached_data == nullptr ? nullptr : cached_data + offset;
    iov[i].iov_len = static_cast<size_t>(length);
  }
  *count_out = static_cast<uint32_t>(count);
  return true;
}

// ---------------------------------------------------------------------------
// Results

napi_value NewInt32(napi_env env, int32_t number) {
  napi_value result = nullptr;
  if (napi_create_int32(env, number, &result) != napi_ok) return ThrowNapi(env, "napi_create_int32");
  return result;
}

// Byte counts: exact up to 2^53 as a double.
napi_value NewCount(napi_env env, ssize_t number) {
  napi_value result = nullptr;
  if (napi_create_int64(env, number, &result) != napi_ok) return ThrowNapi(env, "napi_create_int64");
  return result;
}

napi_value NewBool(napi_env env, bool value) {
  napi_value result = nullptr;
  if (napi_get_boolean(env, value, &result) != napi_ok) return ThrowNapi(env, "napi_get_boolean");
  return result;
}

napi_value Null(napi_env env) {
  napi_value result = nullptr;
  if (napi_get_null(env, &result) != napi_ok) return ThrowNapi(env, "napi_get_null");
  return result;
}

// [fds...] as a JS array; false (after throwing) if it could not be built.
bool NewFdArray(napi_env env, const int* fds, size_t count, napi_value* out) {
  if (napi_create_array_with_length(env, count, out) != napi_ok) {
    ThrowNapi(env, "napi_create_array_with_length");
    return false;
  }
  for (size_t i = 0; i < count; i++) {
    napi_value fd = nullptr;
    if (napi_create_int32(env, fds[i], &fd) != napi_ok || napi_set_element(env, *out, i, fd) != napi_ok) {
      ThrowNapi(env, "napi_set_element");
      return false;
    }
  }
  return true;
}

void CloseAll(const int* fds, size_t count) {
  for (size_t i = 0; i < count; i++) close(fds[i]);
}

bool WouldBlock(int err) {
  return err == EAGAIN || err == EWOULDBLOCK;
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

// dupFd(fd: number): number
//
// fcntl(F_DUPFD_CLOEXEC): a second fd for the same open file (a socket Node
// accepted, re-wrapped with a caller-owned read buffer).
napi_value DupFd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return kThrown;
  int fd = -1;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return ThrowSyscall(env, "fcntl(F_DUPFD_CLOEXEC)", errno);
  return NewInt32(env, dup);
}

// setThreadSlice(sliceUs: number): number
//
// The calling thread's EEVDF time slice (sched_setattr with sched_runtime
// for SCHED_OTHER, Linux 6.12+; the kernel clamps it to 0.1..100 ms), its
// policy and nice value kept. A task with a shorter slice gets an earlier
// virtual deadline, so it preempts a longer-sliced one when it wakes — the
// latency hint a VMM's event-loop thread wants over its vCPU threads, without
// a larger CPU share. Returns the slice the kernel now reports (µs).
struct VmigSchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
  uint32_t sched_util_min;
  uint32_t sched_util_max;
};

napi_value SetThreadSlice(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return kThrown;
  double us = 0;
  if (!GetInteger(env, argv[0], "sliceUs", 100, 100000, &us)) return kThrown;
  VmigSchedAttr attr;
  std::memset(&attr, 0, sizeof attr);
  if (syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) != 0) return ThrowSyscall(env, "sched_getattr", errno);
  if (attr.sched_policy != 0 /* SCHED_OTHER */ && attr.sched_policy != 3 /* SCHED_BATCH */) {
    return ThrowSyscall(env, "sched_setattr (the thread is not SCHED_OTHER or SCHED_BATCH)", EINVAL);
  }
  attr.size = sizeof attr;
  attr.sched_flags = 0;
  attr.sched_runtime = static_cast<uint64_t>(us) * 1000;
  if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) return ThrowSyscall(env, "sched_setattr", errno);
  std::memset(&attr, 0, sizeof attr);
  if (syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) != 0) return ThrowSyscall(env, "sched_getattr", errno);
  return NewInt32(env, static_cast<int32_t>(attr.sched_runtime / 1000));
}

// threadPolicy(tid: number): number
// setThreadPolicy(tid: number, policy: number): number
//
// sched_getscheduler / sched_setscheduler on one thread of this process (a
// Linux thread id), for the non-realtime policies only: SCHED_OTHER (0),
// SCHED_BATCH (3) and SCHED_IDLE (5). The switchover window parks V8's and
// Node's helper threads in SCHED_IDLE (they run only on a CPU nobody else
// wants) and puts them back. Both return -1, without throwing, for a thread
// that is not (or no longer) in this process: the window runs inside a
// migration's downtime, where building an exception costs more than the
// call. setThreadPolicy returns the policy the thread had, and leaves a
// thread under a realtime policy as it is. Going back from SCHED_IDLE needs
// CAP_SYS_NICE (or an RLIMIT_NICE that allows nice 0).
bool ThreadOfThisProcess(pid_t tid) {
  if (tid == getpid()) return true;
  char path[48];
  std::snprintf(path, sizeof path, "/proc/self/task/%d", static_cast<int>(tid));
  struct stat st;
  return stat(path, &st) == 0;
}

napi_value ThreadPolicy(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return kThrown;
  double tid = 0;
  if (!GetInteger(env, argv[0], "tid", 1, INT32_MAX, &tid)) return kThrown;
  if (!ThreadOfThisProcess(static_cast<pid_t>(tid))) return NewInt32(env, -1);
  int policy = sched_getscheduler(static_cast<pid_t>(tid));
  if (policy < 0) return errno == ESRCH ? NewInt32(env, -1) : ThrowSyscall(env, "sched_getscheduler", errno);
  return NewInt32(env, policy & ~SCHED_RESET_ON_FORK);
}

napi_value SetThreadPolicy(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return kThrown;
  double tid = 0;
  double policy = 0;
  if (!GetInteger(env, argv[0], "tid", 1, INT32_MAX, &tid) || !GetInteger(env, argv[1], "policy", 0, 5, &policy)) return kThrown;
  if (policy != SCHED_OTHER && policy != SCHED_BATCH && policy != SCHED_IDLE) {
    return Throw(env, ErrorKind::kRangeError, "ERR_HOST_OUT_OF_RANGE", "policy must be SCHED_OTHER (0), SCHED_BATCH (3) or SCHED_IDLE (5)");
  }
  pid_t t = static_cast<pid_t>(tid);
  if (!ThreadOfThisProcess(t)) return NewInt32(env, -1);
  int before = sched_getscheduler(t);
  if (before < 0) return errno == ESRCH ? NewInt32(env, -1) : ThrowSyscall(env, "sched_getscheduler", errno);
  before &= ~SCHED_RESET_ON_FORK;
  if (before != SCHED_OTHER && before != SCHED_BATCH && before != SCHED_IDLE) return NewInt32(env, before);
  struct sched_param param;
  std::memset(&param, 0, sizeof param);
  if (sched_setscheduler(t, static_cast<int>(policy), &param) != 0) {
    return errno == ESRCH ? NewInt32(env, -1) : ThrowSyscall(env, "sched_setscheduler", errno);
  }
  return NewInt32(env, before);
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
// Frame and byte I/O on non-blocking fds (TAP queues, sockets)
//
// No allocation per call: the caller passes a view (typically of guest RAM, a
// SharedArrayBuffer) and the kernel copies straight into or out of it. -1
// means EAGAIN (nothing to read, or no room to write): the caller waits for
// the poller. EINTR is retried, since it carries no information here.

// fdRead(fd, buffer: ArrayBufferView, offset: number, length: number): number
napi_value FdRead(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!GetArgs(env, info, 4, argv)) return kThrown;
  int fd = -1;
  uint8_t* data = nullptr;
  size_t length = 0;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  if (!GetSpan(env, argv[1], argv[2], argv[3], &data, &length)) return kThrown;
  ssize_t n = 0;
  do n = read(fd, data, length);
  while (n < 0 && errno == EINTR);
  if (n < 0) return WouldBlock(errno) ? NewInt32(env, -1) : ThrowSyscall(env, "read", errno);
  return NewCount(env, n);
}

// fdWrite(fd, buffer: ArrayBufferView, offset: number, length: number): number
napi_value FdWrite(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!GetArgs(env, info, 4, argv)) return kThrown;
  int fd = -1;
  uint8_t* data = nullptr;
  size_t length = 0;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  if (!GetSpan(env, argv[1], argv[2], argv[3], &data, &length)) return kThrown;
  ssize_t n = 0;
  do n = write(fd, data, length);
  while (n < 0 && errno == EINTR);
  if (n < 0) return WouldBlock(errno) ? NewInt32(env, -1) : ThrowSyscall(env, "write", errno);
  return NewCount(env, n);
}

// copyBytes(dst: ArrayBufferView, dstOffset, src: ArrayBufferView, srcOffset, length): void
//
// memmove between two views, either or both over a SharedArrayBuffer (guest
// RAM). V8 copies to or from shared memory with relaxed atomic accesses, one
// word or byte at a time (TypedArray.prototype.set): a migration's pages
// going out of guest RAM into the stream, and into guest RAM on the other
// side, ran at 0.5-1.8 GB/s that way. A racing guest write is no more a
// problem here than there: a page that changes while copied is dirty again
// and goes in the next pass (the stop copies with the vCPUs parked).
napi_value CopyBytes(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!GetArgs(env, info, 5, argv)) return kThrown;
  uint8_t* dst = nullptr;
  uint8_t* src = nullptr;
  size_t dst_length = 0;
  size_t src_length = 0;
  if (!GetSpan(env, argv[0], argv[1], argv[4], &dst, &dst_length)) return kThrown;
  if (!GetSpan(env, argv[2], argv[3], argv[4], &src, &src_length)) return kThrown;
  if (dst_length != 0) std::memmove(dst, src, dst_length);
  return nullptr;  // undefined
}

// harvestBits(shared: Uint32Array, out: Uint32Array): number
// bitIndices(a: Uint32Array, b: Uint32Array | null, out: Uint32Array): number
//
// The dirty bitmap's two scans of a migration's stop (memory/dirty-bitmap.ts,
// migration/ram-pages.ts): take every word of the shared bitmap (an atomic
// exchange for each non-zero one, so a bit another thread sets meanwhile is
// in this harvest or the next, never lost), and list the bits set in one or
// two harvests. In JavaScript both ran cold at the stop — a VMM is a
// migration source once — and took 0.6 ms of the downtime for 2048 words
// (a 256 MiB guest); optimised they take ~70 us, here a few.
// harvestBits returns the number of bits harvested. bitIndices writes the
// indices of the bits set in a | b, ascending, into out (as many as fit)
// and returns how many are set: called with an empty `out`, it counts.

napi_value HarvestBits(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return kThrown;
  uint32_t* shared = nullptr;
  uint32_t* out = nullptr;
  size_t n = 0;
  size_t m = 0;
  if (!GetWords(env, argv[0], "shared", &shared, &n) || !GetWords(env, argv[1], "out", &out, &m)) return kThrown;
  if (m != n) return Throw(env, ErrorKind::kRangeError, "ERR_HOST_OUT_OF_RANGE", "out must have as many words as shared");
  uint64_t bits = 0;
  for (size_t w = 0; w < n; w++) {
    // A plain load first: most words are clean, and a locked exchange on
    // them would only slow the writers sharing the cache line.
    uint32_t v = __atomic_load_n(&shared[w], __ATOMIC_RELAXED);
    if (v != 0) v = __atomic_exchange_n(&shared[w], 0u, __ATOMIC_SEQ_CST);
    out[w] = v;
    bits += static_cast<uint64_t>(__builtin_popcount(v));
  }
  return NewCount(env, static_cast<ssize_t>(bits));
}

napi_value BitIndices(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!GetArgs(env, info, 3, argv)) return kThrown;
  uint32_t* a = nullptr;
  uint32_t* b = nullptr;
  uint32_t* out = nullptr;
  size_t n = 0;
  size_t nb = 0;
  size_t capacity = 0;
  napi_valuetype b_type = napi_undefined;
  if (napi_typeof(env, argv[1], &b_type) != napi_ok) return ThrowNapi(env, "napi_typeof");
  if (!GetWords(env, argv[0], "a", &a, &n)) return kThrown;
  if (b_type != napi_null && b_type != napi_undefined) {
    if (!GetWords(env, argv[1], "b", &b, &nb)) return kThrown;
    if (nb != n) return Throw(env, ErrorKind::kRangeError, "ERR_HOST_OUT_OF_RANGE", "b must have as many words as a");
  }
  if (!GetWords(env, argv[2], "out", &out, &capacity)) return kThrown;
  if (n > (static_cast<size_t>(UINT32_MAX) + 1) / 32) return Throw(env, ErrorKind::kRangeError, "ERR_HOST_OUT_OF_RANGE", "a has more bits than a u32 index can name");
  size_t k = 0;
  for (size_t w = 0; w < n; w++) {
    uint32_t v = a[w] | (b != nullptr ? b[w] : 0u);
    while (v != 0) {
      if (k < capacity) out[k] = static_cast<uint32_t>(w * 32 + static_cast<size_t>(__builtin_ctz(v)));
      k++;
      v &= v - 1;
    }
  }
  return NewCount(env, static_cast<ssize_t>(k));
}

// fdReadv(fd, views: ArrayBufferView[], table: Uint32Array, count: number): number
// fdWritev(fd, views, table, count): number
// See GetIovec for the table. A TAP fd reads or writes one whole frame per call.
napi_value FdVectored(napi_env env, napi_callback_info info, bool is_write) {
  napi_value argv[4];
  if (!GetArgs(env, info, 4, argv)) return kThrown;
  int fd = -1;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  struct iovec iov[kIovMax];
  uint32_t count = 0;
  if (!GetIovec(env, argv[1], argv[2], argv[3], iov, &count)) return kThrown;
  ssize_t n = 0;
  do n = is_write ? writev(fd, iov, static_cast<int>(count)) : readv(fd, iov, static_cast<int>(count));
  while (n < 0 && errno == EINTR);
  if (n < 0) return WouldBlock(errno) ? NewInt32(env, -1) : ThrowSyscall(env, is_write ? "writev" : "readv", errno);
  return NewCount(env, n);
}

napi_value FdReadv(napi_env env, napi_callback_info info) {
  return FdVectored(env, info, false);
}

napi_value FdWritev(napi_env env, napi_callback_info info) {
  return FdVectored(env, info, true);
}

// fdSetNonBlocking(fd, nonBlocking: boolean): void
//
// For fds received from elsewhere (SCM_RIGHTS): the sender chose their flags,
// and a blocking read on the event loop would stall the whole thread. O_NONBLOCK
// belongs to the open file description, so the sender's copy changes too.
napi_value FdSetNonBlocking(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return kThrown;
  int fd = -1;
  bool non_blocking = false;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  if (!GetBool(env, argv[1], "nonBlocking", &non_blocking)) return kThrown;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return ThrowSyscall(env, "fcntl(F_GETFL)", errno);
  int wanted = non_blocking ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && fcntl(fd, F_SETFL, wanted) != 0) return ThrowSyscall(env, "fcntl(F_SETFL)", errno);
  return nullptr;
}

// ---------------------------------------------------------------------------
// TAP (DESIGN §4): one /dev/net/tun fd per queue pair, IFF_MULTI_QUEUE so the
// kernel spreads a device's traffic over them, IFF_VNET_HDR so each frame
// carries a virtio_net_hdr (offload metadata) the guest understands as is.

// The kernel's limit (MAX_TAP_QUEUES in drivers/net/tun.c).
constexpr double kTapMaxQueues = 256;

// Kernels before 6.2 lack these in their headers; the values are ABI.
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

// tapOpen(ifname: string, queues: number, vnetHdr: boolean): { ifname: string, fds: number[] }
//
// `ifname` may be empty (the kernel picks tapN) or a pattern like "vm%d"; the
// first TUNSETIFF creates the device (or attaches to an existing multi-queue
// one) and the others attach to that same device by its actual name. The
// device is not persistent: it disappears when the last fd closes, so a
// failure halfway closes what was opened and leaves nothing behind.
napi_value TapOpen(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!GetArgs(env, info, 3, argv)) return kThrown;
  std::string requested;
  double queues = 0;
  bool vnet_hdr = false;
  if (!GetString(env, argv[0], "ifname", IFNAMSIZ - 1, &requested)) return kThrown;
  if (!GetInteger(env, argv[1], "queues", 1, kTapMaxQueues, &queues)) return kThrown;
  if (!GetBool(env, argv[2], "vnetHdr", &vnet_hdr)) return kThrown;

  char name[IFNAMSIZ] = {};
  std::memcpy(name, requested.data(), requested.size());
  short flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE | (vnet_hdr ? IFF_VNET_HDR : 0);
  int fds[static_cast<int>(kTapMaxQueues)];
  size_t opened = 0;
  for (; opened < static_cast<size_t>(queues); opened++) {
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      CloseAll(fds, opened);
      return ThrowSyscall(env, "open(/dev/net/tun)", err);
    }
    struct ifreq ifr {};
    std::memcpy(ifr.ifr_name, name, IFNAMSIZ);
    ifr.ifr_flags = flags;
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
      int err = errno;
      close(fd);
      CloseAll(fds, opened);
      return ThrowSyscall(env, "ioctl(TUNSETIFF)", err);
    }
    if (opened == 0) {
      std::memcpy(name, ifr.ifr_name, IFNAMSIZ);
      name[IFNAMSIZ - 1] = '\0';
    }
    fds[opened] = fd;
  }

  napi_value result = nullptr;
  napi_value js_name = nullptr;
  napi_value js_fds = nullptr;
  if (napi_create_object(env, &result) != napi_ok ||
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &js_name) != napi_ok ||
      napi_set_named_property(env, result, "ifname", js_name) != napi_ok) {
    CloseAll(fds, opened);
    return ThrowNapi(env, "napi_create_object");
  }
  if (!NewFdArray(env, fds, opened, &js_fds) || napi_set_named_property(env, result, "fds", js_fds) != napi_ok) {
    CloseAll(fds, opened);
    return ThrowNapi(env, "napi_set_named_property");
  }
  return result;
}

// tapGetIff(fd): { ifname: string, flags: number } (TUNGETIFF)
napi_value TapGetIff(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return kThrown;
  int fd = -1;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  struct ifreq ifr {};
  if (ioctl(fd, TUNGETIFF, &ifr) != 0) return ThrowSyscall(env, "ioctl(TUNGETIFF)", errno);
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  napi_value result = nullptr;
  napi_value value = nullptr;
  if (napi_create_object(env, &result) != napi_ok ||
      napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &value) != napi_ok ||
      napi_set_named_property(env, result, "ifname", value) != napi_ok ||
      napi_create_int32(env, static_cast<unsigned short>(ifr.ifr_flags), &value) != napi_ok ||
      napi_set_named_property(env, result, "flags", value) != napi_ok) {
    return ThrowNapi(env, "napi_create_object");
  }
  return result;
}

// tapSetOffload(fd, flags: number): void (TUNSETOFFLOAD; TUN_F_* bits)
//
// Offloads are a property of the device, so any queue's fd sets them for all.
// The kernel refuses bits it does not know and TSO without CSUM (EINVAL).
napi_value TapSetOffload(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return kThrown;
  int fd = -1;
  double flags = 0;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  if (!GetInteger(env, argv[1], "flags", 0, UINT32_MAX, &flags)) return kThrown;
  if (ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(flags)) != 0) {
    return ThrowSyscall(env, "ioctl(TUNSETOFFLOAD)", errno);
  }
  return nullptr;
}

// tapSetVnetHdrSize(fd, size: number): void (TUNSETVNETHDRSZ)
//
// 10 is struct virtio_net_hdr, 12 adds num_buffers (VIRTIO_F_VERSION_1 or
// MRG_RXBUF). Per device, like offloads. The kernel refuses sizes below 10.
napi_value TapSetVnetHdrSize(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return kThrown;
  int fd = -1;
  double size = 0;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  if (!GetInteger(env, argv[1], "size", 0, INT32_MAX, &size)) return kThrown;
  int value = static_cast<int>(size);
  if (ioctl(fd, TUNSETVNETHDRSZ, &value) != 0) return ThrowSyscall(env, "ioctl(TUNSETVNETHDRSZ)", errno);
  return nullptr;
}

// tapGetVnetHdrSize(fd): number (TUNGETVNETHDRSZ)
napi_value TapGetVnetHdrSize(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return kThrown;
  int fd = -1;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  int value = 0;
  if (ioctl(fd, TUNGETVNETHDRSZ, &value) != 0) return ThrowSyscall(env, "ioctl(TUNGETVNETHDRSZ)", errno);
  return NewInt32(env, value);
}

// tapSetQueueEnabled(fd, enabled: boolean): void (TUNSETQUEUE)
//
// A detached queue keeps its fd but the kernel steers no traffic to it; the
// guest's VQ_PAIRS_SET maps onto this. The kernel refuses attaching an
// attached queue or detaching a detached one (EINVAL).
napi_value TapSetQueueEnabled(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return kThrown;
  int fd = -1;
  bool enabled = false;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  if (!GetBool(env, argv[1], "enabled", &enabled)) return kThrown;
  struct ifreq ifr {};
  ifr.ifr_flags = enabled ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
  if (ioctl(fd, TUNSETQUEUE, &ifr) != 0) return ThrowSyscall(env, "ioctl(TUNSETQUEUE)", errno);
  return nullptr;
}

// ---------------------------------------------------------------------------
// eventfd: the doorbell and interrupt line shared with vhost-user backends
// (kick and call fds) and the cross-thread wakeup for the poller.

// eventfdCreate(initval: number, flags: number): number
napi_value EventfdCreate(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return kThrown;
  double initval = 0;
  double flags = 0;
  if (!GetInteger(env, argv[0], "initval", 0, UINT32_MAX, &initval)) return kThrown;
  if (!GetInteger(env, argv[1], "flags", 0, INT32_MAX, &flags)) return kThrown;
  constexpr int kKnown = EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE;
  if ((static_cast<int>(flags) & ~kKnown) != 0) {
    return Throw(env, ErrorKind::kRangeError, "ERR_HOST_OUT_OF_RANGE",
                 "flags may only hold EFD_CLOEXEC, EFD_NONBLOCK and EFD_SEMAPHORE, got " + NumberText(flags));
  }
  int fd = eventfd(static_cast<unsigned int>(initval), static_cast<int>(flags));
  if (fd < 0) return ThrowSyscall(env, "eventfd", errno);
  napi_value result = nullptr;
  if (napi_create_int32(env, fd, &result) != napi_ok) {
    close(fd);
    return ThrowNapi(env, "napi_create_int32");
  }
  return result;
}

// eventfdRead(fd): bigint | -1
//
// The counter (reset to 0, or decremented by 1 with EFD_SEMAPHORE); -1 when it
// is 0 (EAGAIN on a non-blocking eventfd).
napi_value EventfdRead(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return kThrown;
  int fd = -1;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  uint64_t value = 0;
  ssize_t n = 0;
  do n = read(fd, &value, sizeof(value));
  while (n < 0 && errno == EINTR);
  if (n < 0) return WouldBlock(errno) ? NewInt32(env, -1) : ThrowSyscall(env, "read", errno);
  if (n != sizeof(value)) return ThrowSyscall(env, "read", EIO);  // not an eventfd
  napi_value result = nullptr;
  if (napi_create_bigint_uint64(env, value, &result) != napi_ok) return ThrowNapi(env, "napi_create_bigint_uint64");
  return result;
}

// eventfdWrite(fd, value: bigint): boolean
//
// Adds `value` to the counter; false when that would pass 2^64-2 (EAGAIN on a
// non-blocking eventfd). 2^64-1 itself is not a valid addend.
napi_value EventfdWrite(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return kThrown;
  int fd = -1;
  uint64_t value = 0;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  if (!GetBigUint64(env, argv[1], "value", UINT64_MAX - 1, &value)) return kThrown;
  ssize_t n = 0;
  do n = write(fd, &value, sizeof(value));
  while (n < 0 && errno == EINTR);
  if (n < 0) return WouldBlock(errno) ? NewBool(env, false) : ThrowSyscall(env, "write", errno);
  return NewBool(env, true);
}

// ---------------------------------------------------------------------------
// AF_UNIX stream sockets with SCM_RIGHTS: vhost-user (a socket path, messages
// that carry memfds and eventfds) and tests. Every fd is O_NONBLOCK and
// O_CLOEXEC, including received ones (MSG_CMSG_CLOEXEC), and is driven by the
// poller, not by node:net, which cannot pass fds.

// The kernel's cap on fds in one SCM_RIGHTS message (SCM_MAX_FD).
constexpr double kScmMaxFd = 253;
// sizeof(sun_path) - 1: the path plus its NUL must fit.
constexpr size_t kUnixPathMax = sizeof(sockaddr_un::sun_path) - 1;

bool GetUnixAddress(napi_env env, napi_value value, sockaddr_un* address) {
  std::string path;
  if (!GetString(env, value, "path", kUnixPathMax, &path)) return false;
  if (path.empty()) {
    Throw(env, ErrorKind::kRangeError, "ERR_HOST_OUT_OF_RANGE", "path must not be empty");
    return false;
  }
  *address = sockaddr_un{};
  address->sun_family = AF_UNIX;
  std::memcpy(address->sun_path, path.data(), path.size());
  return true;
}

napi_value NewFdResult(napi_env env, int fd) {
  napi_value result = nullptr;
  if (napi_create_int32(env, fd, &result) != napi_ok) {
    close(fd);
    return ThrowNapi(env, "napi_create_int32");
  }
  return result;
}

// unixSocketPair(): [number, number]
napi_value UnixSocketPair(napi_env env, napi_callback_info /*info*/) {
  int fds[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    return ThrowSyscall(env, "socketpair", errno);
  }
  napi_value result = nullptr;
  if (!NewFdArray(env, fds, 2, &result)) {
    CloseAll(fds, 2);
    return kThrown;
  }
  return result;
}

// unixConnect(path: string): number
//
// A unix-socket connect completes at once or fails: there is no EINPROGRESS.
// EAGAIN means the listener's backlog is full (retry later); ENOENT or
// ECONNREFUSED that nobody listens there.
napi_value UnixConnect(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return kThrown;
  sockaddr_un address;
  if (!GetUnixAddress(env, argv[0], &address)) return kThrown;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowSyscall(env, "socket", errno);
  int rc = 0;
  do rc = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    close(fd);
    return ThrowSyscall(env, "connect", err);
  }
  return NewFdResult(env, fd);
}

// unixListen(path: string, backlog: number): number
//
// Does not remove an existing file at `path` (EADDRINUSE): deciding whether a
// leftover socket is stale is the caller's business.
napi_value UnixListen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return kThrown;
  sockaddr_un address;
  double backlog = 0;
  if (!GetUnixAddress(env, argv[0], &address)) return kThrown;
  if (!GetInteger(env, argv[1], "backlog", 1, 65535, &backlog)) return kThrown;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowSyscall(env, "socket", errno);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    int err = errno;
    close(fd);
    return ThrowSyscall(env, "bind", err);
  }
  if (listen(fd, static_cast<int>(backlog)) != 0) {
    int err = errno;
    close(fd);
    unlink(address.sun_path);  // we created it just now
    return ThrowSyscall(env, "listen", err);
  }
  return NewFdResult(env, fd);
}

// unixAccept(fd): number (the connection) | -1 (none pending)
napi_value UnixAccept(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return kThrown;
  int fd = -1;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  int connection = -1;
  do connection = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (connection < 0 && errno == EINTR);
  if (connection < 0) {
    // ECONNABORTED: the client gave up before we accepted; nothing is pending for us.
    if (WouldBlock(errno) || errno == ECONNABORTED) return NewInt32(env, -1);
    return ThrowSyscall(env, "accept4", errno);
  }
  return NewFdResult(env, connection);
}

// sendWithFds(fd, data: ArrayBufferView, fds: number[]): number (bytes sent) | -1
//
// The fds travel with the first byte(s) sent; a partial send still delivers
// all of them, so the caller sends the rest without fds. They are duplicated
// into the receiver: the sender still owns (and closes) its own. MSG_NOSIGNAL:
// a closed peer is an EPIPE error, not a SIGPIPE.
napi_value SendWithFds(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!GetArgs(env, info, 3, argv)) return kThrown;
  int fd = -1;
  uint8_t* data = nullptr;
  size_t length = 0;
  uint32_t fd_count = 0;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  if (!GetView(env, argv[1], "data", &data, &length)) return kThrown;
  if (!IsArray(env, argv[2], "fds", &fd_count)) return kThrown;
  if (fd_count > kScmMaxFd) {
    return Throw(env, ErrorKind::kRangeError, "ERR_HOST_OUT_OF_RANGE",
                 "at most " + NumberText(kScmMaxFd) + " fds fit in one message, got " + std::to_string(fd_count));
  }
  if (fd_count > 0 && length == 0) {
    return Throw(env, ErrorKind::kRangeError, "ERR_HOST_OUT_OF_RANGE",
                 "data must hold at least one byte to carry fds on a stream socket");
  }
  int fds[static_cast<int>(kScmMaxFd)];
  for (uint32_t i = 0; i < fd_count; i++) {
    napi_value element = nullptr;
    if (napi_get_element(env, argv[2], i, &element) != napi_ok) return ThrowNapi(env, "napi_get_element");
    if (!GetFd(env, element, &fds[i])) return kThrown;
  }

  struct iovec iov {};
  iov.iov_base = data;
  iov.iov_len = length;
  struct msghdr message {};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * static_cast<int>(kScmMaxFd))];
  if (fd_count > 0) {
    message.msg_control = control;
    message.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
    struct cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
    std::memcpy(CMSG_DATA(header), fds, sizeof(int) * fd_count);
  }
  ssize_t n = 0;
  do n = sendmsg(fd, &message, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return WouldBlock(errno) ? NewInt32(env, -1) : ThrowSyscall(env, "sendmsg", errno);
  return NewCount(env, n);
}

// The largest single receive; vhost-user messages are a few KiB.
constexpr double kRecvMaxBytes = 16 * 1024 * 1024;

// recvWithFds(fd, maxBytes: number, maxFds: number):
//   { bytes: Uint8Array, fds: number[], fdsTruncated: boolean } | null
//
// null: nothing to read (EAGAIN). bytes.length 0: the peer closed. The fds are
// new (MSG_CMSG_CLOEXEC) and the caller owns them. fdsTruncated (MSG_CTRUNC):
// the sender attached more than maxFds, and the kernel dropped the rest.
napi_value RecvWithFds(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!GetArgs(env, info, 3, argv)) return kThrown;
  int fd = -1;
  double max_bytes = 0;
  double max_fds = 0;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  if (!GetInteger(env, argv[1], "maxBytes", 1, kRecvMaxBytes, &max_bytes)) return kThrown;
  if (!GetInteger(env, argv[2], "maxFds", 0, kScmMaxFd, &max_fds)) return kThrown;

  std::unique_ptr<uint8_t[]> buffer(new (std::nothrow) uint8_t[static_cast<size_t>(max_bytes)]);
  if (!buffer) return ThrowSyscall(env, "recvmsg", ENOMEM);
  struct iovec iov {};
  iov.iov_base = buffer.get();
  iov.iov_len = static_cast<size_t>(max_bytes);
  struct msghdr message {};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * static_cast<int>(kScmMaxFd))];
  if (max_fds > 0) {
    message.msg_control = control;
    message.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<size_t>(max_fds));
  }
  ssize_t n = 0;
  do n = recvmsg(fd, &message, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return WouldBlock(errno) ? Null(env) : ThrowSyscall(env, "recvmsg", errno);

  // From here on the received fds are ours: close them on any failure.
  int fds[static_cast<int>(kScmMaxFd)];
  size_t fd_count = 0;
  if (max_fds > 0) {
    for (struct cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
      if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int received = -1;
        std::memcpy(&received, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
        // CMSG_SPACE rounds up to 8 bytes, so the kernel may fit one fd more
        // than asked for: keep the promise of maxFds and close the extra.
        if (fd_count < static_cast<size_t>(max_fds)) {
          fds[fd_count++] = received;
        } else {
          close(received);
          message.msg_flags |= MSG_CTRUNC;
        }
      }
    }
  }

  napi_value result = nullptr;
  napi_value array_buffer = nullptr;
  napi_value bytes = nullptr;
  napi_value js_fds = nullptr;
  napi_value truncated = nullptr;
  void* copy = nullptr;
  if (napi_create_object(env, &result) != napi_ok ||
      napi_create_arraybuffer(env, static_cast<size_t>(n), &copy, &array_buffer) != napi_ok ||
      napi_create_typedarray(env, napi_uint8_array, static_cast<size_t>(n), array_buffer, 0, &bytes) != napi_ok ||
      napi_set_named_property(env, result, "bytes", bytes) != napi_ok ||
      napi_get_boolean(env, (message.msg_flags & MSG_CTRUNC) != 0, &truncated) != napi_ok ||
      napi_set_named_property(env, result, "fdsTruncated", truncated) != napi_ok) {
    CloseAll(fds, fd_count);
    return ThrowNapi(env, "napi_create_object");
  }
  if (n > 0) std::memcpy(copy, buffer.get(), static_cast<size_t>(n));
  if (!NewFdArray(env, fds, fd_count, &js_fds) || napi_set_named_property(env, result, "fds", js_fds) != napi_ok) {
    CloseAll(fds, fd_count);
    return ThrowNapi(env, "napi_set_named_property");
  }
  return result;
}

// ---------------------------------------------------------------------------
// fd readiness on Node's event loop (uv_poll_t)
//
// pollStart(fd, events, callback) -> handle; pollUpdate(handle, events);
// pollSetRef(handle, ref); pollStop(handle). The callback runs on the loop of
// the thread that started the poll (napi_get_uv_event_loop: each worker has
// its own) as callback(events, error), with error an ERR_HOST_SYSCALL_FAILED
// Error when libuv reports one (it has then stopped watching the fd).
//
// Lifetime. A Poll is owned twice: by libuv until its close callback, and by
// the JS handle object (napi_wrap) until that is collected; whichever lets go
// last frees it, so no path can touch freed memory. While active, the Poll
// holds a strong reference to the handle (the async resource) and to the
// callback. ClosePoll stops it and starts uv_close; it is idempotent and safe
// from inside the callback, since the memory lives at least until libuv's
// close callback, which never runs synchronously. An async cleanup hook closes
// a poll still open when its environment (a worker, or the main thread at
// exit) is torn down: Node then waits for uv_close to finish, instead of
// aborting on a loop that still has handles.

struct Poll {
  uv_poll_t handle;
  napi_env env = nullptr;
  v8::Isolate* isolate = nullptr;
  v8::Global<v8::Context> context;
  napi_ref callback = nullptr;
  napi_ref self = nullptr;
  napi_async_context async_context = nullptr;
  napi_async_cleanup_hook_handle cleanup_hook = nullptr;
  int owners = 0;
  bool closing = false;
  bool in_callback = false;
};

// Marks handle objects as ours, so pollStop(someOtherWrappedObject) is a
// TypeError and not a wild pointer.
constexpr napi_type_tag kPollTag = {0x766d69675f706f6cULL, 0x6c2d68616e646c65ULL};

void ReleasePoll(Poll* poll) {
  if (--poll->owners == 0) delete poll;
}

void DestroyAsyncContext(Poll* poll) {
  if (poll->async_context == nullptr) return;
  napi_async_destroy(poll->env, poll->async_context);
  poll->async_context = nullptr;
}

void OnPollClosed(uv_handle_t* handle) {
  Poll* poll = static_cast<Poll*>(handle->data);
  // Either unregisters the hook (normal stop) or tells Node the hook is done
  // (environment teardown); both are this one call.
  if (poll->cleanup_hook != nullptr) {
    napi_remove_async_cleanup_hook(poll->cleanup_hook);
    poll->cleanup_hook = nullptr;
  }
  ReleasePoll(poll);
}

void ClosePoll(Poll* poll) {
  if (poll->closing) return;
  poll->closing = true;
  uv_poll_stop(&poll->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll->handle), OnPollClosed);
  if (poll->callback != nullptr) napi_delete_reference(poll->env, poll->callback);
  if (poll->self != nullptr) napi_delete_reference(poll->env, poll->self);
  poll->callback = nullptr;
  poll->self = nullptr;
  // Inside the callback, napi_make_callback is still using the async context;
  // OnPoll destroys it on the way out.
  if (!poll->in_callback) DestroyAsyncContext(poll);
  poll->context.Reset();
}

void PollCleanupHook(napi_async_cleanup_hook_handle /*handle*/, void* data) {
  ClosePoll(static_cast<Poll*>(data));  // OnPollClosed signals completion
}

void FinalizePollHandle(napi_env /*env*/, void* data, void* /*hint*/) {
  ReleasePoll(static_cast<Poll*>(data));
}

void OnPoll(uv_poll_t* handle, int status, int events) {
  Poll* poll = static_cast<Poll*>(handle->data);
  if (poll->closing) return;
  napi_env env = poll->env;
  // See the top of the file: a libuv callback has no context entered.
  v8::HandleScope handle_scope(poll->isolate);
  v8::Local<v8::Context> context = poll->context.Get(poll->isolate);
  v8::Context::Scope context_scope(context);

  napi_value callback = nullptr;
  napi_value resource = nullptr;
  napi_value argv[2] = {nullptr, nullptr};
  if (napi_get_reference_value(env, poll->callback, &callback) != napi_ok || callback == nullptr ||
      napi_get_reference_value(env, poll->self, &resource) != napi_ok || resource == nullptr ||
      napi_create_int32(env, events, &argv[0]) != napi_ok) {
    return;  // only when the environment is going away
  }
  if (status == 0) {
    napi_get_undefined(env, &argv[1]);
  } else {
    argv[1] = MakeSyscallError(env, "uv_poll", -status);  // libuv errors are -errno on Linux
    if (argv[1] == nullptr) napi_get_undefined(env, &argv[1]);
  }

  poll->in_callback = true;
  napi_status result = napi_make_callback(env, poll->async_context, resource, callback, 2, argv, nullptr);
  poll->in_callback = false;
  if (result == napi_pending_exception) {
    // napi_make_callback leaves the exception pending in the env, where nobody
    // would see it: report it as the uncaught exception it is ('uncaughtException'
    // handlers run; without one the process, or the worker, dies with the stack).
    napi_value exception = nullptr;
    if (napi_get_and_clear_last_exception(env, &exception) == napi_ok && exception != nullptr) {
      napi_fatal_exception(env, exception);
    }
  }
  if (poll->closing) DestroyAsyncContext(poll);  // stopped from inside the callback
}

bool GetPollEvents(napi_env env, napi_value value, int* out) {
  double events = 0;
  if (!GetInteger(env, value, "events", 0, UV_READABLE | UV_WRITABLE | UV_DISCONNECT | UV_PRIORITIZED, &events)) {
    return false;
  }
  *out = static_cast<int>(events);
  return true;
}

bool GetPoll(napi_env env, napi_value value, Poll** out) {
  napi_valuetype type = napi_undefined;
  if (napi_typeof(env, value, &type) != napi_ok) {
    ThrowNapi(env, "napi_typeof");
    return false;
  }
  bool tagged = false;
  if (type != napi_object || napi_check_object_type_tag(env, value, &kPollTag, &tagged) != napi_ok || !tagged) {
    Throw(env, ErrorKind::kTypeError, "ERR_HOST_INVALID_ARG_TYPE", "handle must be a handle returned by pollStart");
    return false;
  }
  void* data = nullptr;
  if (napi_unwrap(env, value, &data) != napi_ok || data == nullptr) {
    ThrowNapi(env, "napi_unwrap");
    return false;
  }
  *out = static_cast<Poll*>(data);
  return true;
}

// The N-API half of pollStart: the handle object and everything the callback
// needs. Returns the failed call's name, or nullptr; on failure the caller's
// ClosePoll releases whatever was acquired.
const char* InitPoll(napi_env env, Poll* poll, napi_value callback, napi_value* object) {
  if (napi_create_object(env, object) != napi_ok) return "napi_create_object";
  if (napi_type_tag_object(env, *object, &kPollTag) != napi_ok) return "napi_type_tag_object";
  if (napi_wrap(env, *object, poll, FinalizePollHandle, nullptr, nullptr) != napi_ok) return "napi_wrap";
  poll->owners++;  // the handle object's
  if (napi_create_reference(env, *object, 1, &poll->self) != napi_ok) return "napi_create_reference";
  if (napi_create_reference(env, callback, 1, &poll->callback) != napi_ok) return "napi_create_reference";
  napi_value name = nullptr;
  if (napi_create_string_utf8(env, "vmig.FdPoller", NAPI_AUTO_LENGTH, &name) != napi_ok) {
    return "napi_create_string_utf8";
  }
  if (napi_async_init(env, *object, name, &poll->async_context) != napi_ok) return "napi_async_init";
  if (napi_add_async_cleanup_hook(env, PollCleanupHook, poll, &poll->cleanup_hook) != napi_ok) {
    return "napi_add_async_cleanup_hook";
  }
  return nullptr;
}

// pollStart(fd, events: number, callback: (events, error) => void): object
//
// events: UV_READABLE | UV_WRITABLE | UV_DISCONNECT | UV_PRIORITIZED (0 starts
// it paused). One poll per fd per thread: a second one fails with EEXIST.
napi_value PollStart(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!GetArgs(env, info, 3, argv)) return kThrown;
  int fd = -1;
  int events = 0;
  if (!GetFd(env, argv[0], &fd)) return kThrown;
  if (!GetPollEvents(env, argv[1], &events)) return kThrown;
  if (!GetFunction(env, argv[2], "callback")) return kThrown;
  uv_loop_s* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return ThrowNapi(env, "napi_get_uv_event_loop");

  Poll* poll = new (std::nothrow) Poll();
  if (poll == nullptr) return ThrowSyscall(env, "uv_poll_init", ENOMEM);
  int rc = uv_poll_init(loop, &poll->handle, fd);
  if (rc != 0) {
    delete poll;
    return ThrowSyscall(env, "uv_poll_init", -rc);
  }
  poll->handle.data = poll;
  poll->owners = 1;  // libuv's; from here on failures go through ClosePoll
  poll->env = env;
  poll->isolate = v8::Isolate::GetCurrent();
  poll->context.Reset(poll->isolate, poll->isolate->GetCurrentContext());

  napi_value object = nullptr;
  const char* failed = InitPoll(env, poll, argv[2], &object);
  if (failed != nullptr) {
    ClosePoll(poll);
    return ThrowNapi(env, failed);
  }
  rc = uv_poll_start(&poll->handle, events, OnPoll);
  if (rc != 0) {
    ClosePoll(poll);
    return ThrowSyscall(env, "uv_poll_start", -rc);
  }
  return object;
}

// pollUpdate(handle, events: number): void — 0 pauses (the poll then keeps
// nothing alive); restarts a poll libuv stopped after an error.
napi_value PollUpdate(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return kThrown;
  Poll* poll = nullptr;
  int events = 0;
  if (!GetPoll(env, argv[0], &poll)) return kThrown;
  if (!GetPollEvents(env, argv[1], &events)) return kThrown;
  if (poll->closing) {
    return Throw(env, ErrorKind::kError, "ERR_HOST_POLLER_STOPPED", "the poller was stopped; start a new one");
  }
  int rc = uv_poll_start(&poll->handle, events, OnPoll);
  if (rc != 0) return ThrowSyscall(env, "uv_poll_start", -rc);
  return nullptr;
}

// pollSetRef(handle, ref: boolean): void — an unref'd poll does not keep the
// event loop (the process, the worker) alive on its own, like timer.unref().
napi_value PollSetRef(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return kThrown;
  Poll* poll = nullptr;
  bool ref = false;
  if (!GetPoll(env, argv[0], &poll)) return kThrown;
  if (!GetBool(env, argv[1], "ref", &ref)) return kThrown;
  if (poll->closing) return nullptr;
  if (ref) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&poll->handle));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(&poll->handle));
  }
  return nullptr;
}

// pollStop(handle): void — idempotent; no callback runs after it returns.
napi_value PollStop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return kThrown;
  Poll* poll = nullptr;
  if (!GetPoll(env, argv[0], &poll)) return kThrown;
  ClosePoll(poll);
  return nullptr;
}

// ---------------------------------------------------------------------------
// hostConstants(): the values of the kernel and libuv constants src/host
// defines by their spec names, read from the headers this addon was built
// with, so a test can check the two agree.
napi_value HostConstants(napi_env env, napi_callback_info /*info*/) {
  struct Constant {
    const char* name;
    int64_t value;
  };
  static constexpr Constant kConstants[] = {
      {"TUN_F_CSUM", TUN_F_CSUM},
      {"TUN_F_TSO4", TUN_F_TSO4},
      {"TUN_F_TSO6", TUN_F_TSO6},
      {"TUN_F_TSO_ECN", TUN_F_TSO_ECN},
      {"TUN_F_UFO", TUN_F_UFO},
      {"TUN_F_USO4", TUN_F_USO4},
      {"TUN_F_USO6", TUN_F_USO6},
      {"IFF_TAP", IFF_TAP},
      {"IFF_NO_PI", IFF_NO_PI},
      {"IFF_VNET_HDR", IFF_VNET_HDR},
      {"IFF_MULTI_QUEUE", IFF_MULTI_QUEUE},
      {"IFF_ATTACH_QUEUE", IFF_ATTACH_QUEUE},
      {"IFF_DETACH_QUEUE", IFF_DETACH_QUEUE},
      {"IFNAMSIZ", IFNAMSIZ},
      {"EFD_CLOEXEC", EFD_CLOEXEC},
      {"EFD_NONBLOCK", EFD_NONBLOCK},
      {"EFD_SEMAPHORE", EFD_SEMAPHORE},
      {"UV_READABLE", UV_READABLE},
      {"UV_WRITABLE", UV_WRITABLE},
      {"UV_DISCONNECT", UV_DISCONNECT},
      {"UV_PRIORITIZED", UV_PRIORITIZED},
      {"IOV_MAX", IOV_MAX},
      {"SCM_MAX_FD", static_cast<int64_t>(kScmMaxFd)},
      {"UNIX_PATH_MAX", static_cast<int64_t>(kUnixPathMax)},
  };
  napi_value result = nullptr;
  if (napi_create_object(env, &result) != napi_ok) return ThrowNapi(env, "napi_create_object");
  for (const Constant& constant : kConstants) {
    napi_value value = nullptr;
    if (napi_create_int64(env, constant.value, &value) != napi_ok ||
        napi_set_named_property(env, result, constant.name, value) != napi_ok) {
      return ThrowNapi(env, "napi_set_named_property");
    }
  }
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
    {"dupFd", DupFd},
    {"setThreadSlice", SetThreadSlice},
    {"threadPolicy", ThreadPolicy},
    {"setThreadPolicy", SetThreadPolicy},
    {"pageSize", PageSize},
    {"copyBytes", CopyBytes},
    {"harvestBits", HarvestBits},
    {"bitIndices", BitIndices},
    {"fdRead", FdRead},
    {"fdWrite", FdWrite},
    {"fdReadv", FdReadv},
    {"fdWritev", FdWritev},
    {"fdSetNonBlocking", FdSetNonBlocking},
    {"tapOpen", TapOpen},
    {"tapGetIff", TapGetIff},
    {"tapSetOffload", TapSetOffload},
    {"tapSetVnetHdrSize", TapSetVnetHdrSize},
    {"tapGetVnetHdrSize", TapGetVnetHdrSize},
    {"tapSetQueueEnabled", TapSetQueueEnabled},
    {"eventfdCreate", EventfdCreate},
    {"eventfdRead", EventfdRead},
    {"eventfdWrite", EventfdWrite},
    {"unixSocketPair", UnixSocketPair},
    {"unixConnect", UnixConnect},
    {"unixListen", UnixListen},
    {"unixAccept", UnixAccept},
    {"sendWithFds", SendWithFds},
    {"recvWithFds", RecvWithFds},
    {"pollStart", PollStart},
    {"pollUpdate", PollUpdate},
    {"pollSetRef", PollSetRef},
    {"pollStop", PollStop},
    {"hostConstants", HostConstants},
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
