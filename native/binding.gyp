# node-gyp build description of the peft_gemm addon (see peft_gemm.c).
# native/build.mjs drives it (or a direct compiler call when node-gyp is
# unusable); `npx node-gyp rebuild -C native --nodedir=<dir with include/node>`
# also works by hand.
{
  "targets": [
    {
      "target_name": "peft_gemm",
      "sources": ["peft_gemm.c", "peft_kernels_napi.c", "peft_pointwise.c", "peft_norm.c", "parallel.c"],
      "cflags": ["-O3", "-std=c11", "-fno-trapping-math", "-fno-math-errno", "-Wall", "-Wextra"],
      "conditions": [
        ["OS=='mac'", {
          "defines": ["PEFT_USE_ACCELERATE", "ACCELERATE_NEW_LAPACK"],
          "libraries": ["-framework Accelerate"],
          "xcode_settings": { "OTHER_CFLAGS": ["-O3", "-fno-trapping-math", "-fno-math-errno"] }
        }, {
          "libraries": ["-lopenblas"]
        }]
      ]
    }
  ]
}
