# Built by `npm install` (package.json "install": "node-gyp rebuild") against the
# headers of the Node that runs vmig (npm config nodedir=/usr -> /usr/include/node),
# so no network access is needed. Output: build/Release/vmig_native.node, loaded
# only by src/host/native.ts. See docs/host.md.
{
  "targets": [
    {
      "target_name": "vmig_native",
      "sources": ["native/vmig_native.cc"],
      # Node's common.gypi already sets -Wall -Wextra, -std=gnu++17 (C++17; the
      # GNU part declares memfd_create and strerrorname_np), -fno-exceptions
      # and -fno-rtti.
      "configurations": {
        # common.gypi builds Release with -O3; nothing here is hot enough to want it.
        "Release": {
          "cflags!": ["-O3"],
          "cflags_cc!": ["-O3"],
          "cflags": ["-O2"]
        }
      }
    }
  ]
}
