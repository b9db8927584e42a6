{
  "targets": [
    {
      "target_name": "decent_native",
      "sources": [
        "src/addon.cc",
        "src/tun.c",
        "src/udp.c",
        "src/segment.c",
        "src/coalesce.c",
        "src/rtnl.c",
        "src/netns.c",
        "src/crypto.c"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-std=c++17"]
    }
  ]
}
