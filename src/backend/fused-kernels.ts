/**
 * Registration of the fused kernels of ./softmax-xent.ts and ./attention.ts
 * (kept apart from ./fused.ts, whose helpers those modules import, so that
 * the two do not import each other).
 */
import type * as tf from "@tensorflow/tfjs-core";
import {
  SELF_ATTENTION,
  SELF_ATTENTION_GRAD,
  selfAttentionGradKernel,
  selfAttentionKernel,
} from "./attention.js";
import {
  SPARSE_XENT,
  SPARSE_XENT_GRAD,
  sparseXentGradKernel,
  sparseXentKernel,
} from "./softmax-xent.js";
import { registerKernels } from "./registry.js";

const KERNELS: ReadonlyArray<readonly [string, tf.KernelFunc]> = [
  [SPARSE_XENT, sparseXentKernel],
  [SPARSE_XENT_GRAD, sparseXentGradKernel],
  [SELF_ATTENTION, selfAttentionKernel],
  [SELF_ATTENTION_GRAD, selfAttentionGradKernel],
];

/** Register the fused kernels on `backends` (idempotent); returns `backend/name` for each. */
export const registerFused = (backends: ReadonlyArray<string>): string[] => registerKernels(backends, KERNELS);
