/**
 * Sharded checkpoints (Node only): a directory holding
 * `model.safetensors.index.json` —
 * `{"metadata": {"total_size": …}, "weight_map": {"<tensor>": "model-00001-of-00002.safetensors", …}}` —
 * next to the shard files it names; and {@link loadCheckpoint}, which takes
 * whichever of `model.safetensors` or the index a directory has.
 *
 * The index is untrusted input: shard names must be plain file names in the
 * same directory (no `..`, no separators, not absolute), every shard must
 * exist before anything is loaded, and every tensor must be in the shard the
 * index says. Tensors a shard holds but the index does not list are ignored.
 *
 * The index is `./shard-index.ts`, loading `./sharded-read.ts` and writing
 * `./sharded-write.ts`; this module gathers them.
 */
export * from "./shard-index.js";
export * from "./sharded-read.js";
export * from "./sharded-write.js";
