/**
 * Replacing TensorFlow.js kernels while keeping the stock ones at hand.
 *
 * tfjs keeps one global (kernel name, backend) → config registry. To replace a
 * kernel we read the stock config (`tf.getKernel`), `tf.unregisterKernel` it
 * and `tf.registerKernel` ours. The stock config is remembered so that our
 * kernel can fall back to it for cases it does not cover, tests can compare
 * against it, and {@link withStockKernels} / {@link restoreAll} can put it back.
 *
 * Our configs carry over the stock `setupFunc`/`disposeFunc`: the wasm backend
 * runs kernels' setup functions when it initialises, and the stock kernel
 * functions we fall back to need theirs to have run.
 */
import * as tf from "@tensorflow/tfjs-core";

const key = (name: string, backend: string): string => `${backend}/${name}`;

interface Entry {
  readonly name: string;
  readonly backend: string;
  readonly stock: tf.KernelConfig | undefined;
  ours: tf.KernelConfig;
}

const entries = new Map<string, Entry>();

const put = (config: tf.KernelConfig): void => {
  if (tf.getKernel(config.kernelName, config.backendName) !== undefined) {
    tf.unregisterKernel(config.kernelName, config.backendName);
  }
  tf.registerKernel(config);
};

/** Register `kernelFunc` for (name, backend), remembering the stock kernel (if any). */
export const override = (name: string, backend: string, kernelFunc: tf.KernelFunc): void => {
  const k = key(name, backend);
  const existing = entries.get(k);
  const stock = existing !== undefined ? existing.stock : tf.getKernel(name, backend);
  const ours: tf.KernelConfig = {
    kernelName: name,
    backendName: backend,
    kernelFunc,
    ...(stock?.setupFunc !== undefined ? { setupFunc: stock.setupFunc } : {}),
    ...(stock?.disposeFunc !== undefined ? { disposeFunc: stock.disposeFunc } : {}),
  };
  entries.set(k, { name, backend, stock, ours });
  put(ours);
};

/** The stock kernel function for (name, backend), whether or not we replaced it. */
export const stockKernel = (name: string, backend: string): tf.KernelFunc | undefined => {
  const e = entries.get(key(name, backend));
  return e !== undefined ? e.stock?.kernelFunc : tf.getKernel(name, backend)?.kernelFunc;
};

/** Whether (name, backend) currently runs our kernel. */
export const isOverridden = (name: string, backend: string): boolean => {
  const e = entries.get(key(name, backend));
  return e !== undefined && tf.getKernel(name, backend)?.kernelFunc === e.ours.kernelFunc;
};

/** Put the stock kernel back for (name, backend) (or remove ours when there was none). */
export const restore = (name: string, backend: string): void => {
  const e = entries.get(key(name, backend));
  if (e === undefined) return;
  entries.delete(key(name, backend));
  if (tf.getKernel(name, backend) !== undefined) tf.unregisterKernel(name, backend);
  if (e.stock !== undefined) tf.registerKernel(e.stock);
};

/** Put every stock kernel back. */
export const restoreAll = (): void => {
  for (const e of [...entries.values()]) restore(e.name, e.backend);
};

/** The kernels we replaced or added, as `backend/name`. */
export const overriddenKernels = (): string[] => [...entries.keys()].sort();

/**
 * Run `fn` with every stock kernel in place (ours are put back afterwards,
 * also when `fn` throws or its promise rejects). For reference computations in
 * tests and benchmarks.
 */
export function withStockKernels<T>(fn: () => Promise<T>): Promise<T>;
export function withStockKernels<T>(fn: () => T): T;
export function withStockKernels<T>(fn: () => T | Promise<T>): T | Promise<T> {
  const saved = [...entries.values()];
  for (const e of saved) {
    tf.unregisterKernel(e.name, e.backend);
    if (e.stock !== undefined) tf.registerKernel(e.stock);
  }
  const back = (): void => {
    for (const e of saved) {
      if (tf.getKernel(e.name, e.backend) !== undefined) tf.unregisterKernel(e.name, e.backend);
      tf.registerKernel(e.ours);
    }
  };
  let result: T | Promise<T>;
  try {
    result = fn();
  } catch (err) {
    back();
    throw err;
  }
  if (result instanceof Promise) return result.finally(back);
  back();
  return result;
}

/**
 * Register new (not replaced) kernels on `backends` and their gradients,
 * idempotently; returns `backend/name` for each kernel. For kernels of our
 * own names (fused and native ops); stock kernels are replaced with
 * {@link override}.
 */
export const registerKernels = (
  backends: ReadonlyArray<string>,
  kernels: ReadonlyArray<readonly [string, tf.KernelFunc]>,
  gradients: ReadonlyArray<tf.GradConfig> = [],
): string[] => {
  const done: string[] = [];
  for (const backendName of backends) {
    for (const [kernelName, kernelFunc] of kernels) {
      if (tf.getKernel(kernelName, backendName) === undefined) tf.registerKernel({ kernelName, backendName, kernelFunc });
      done.push(`${backendName}/${kernelName}`);
    }
  }
  for (const g of gradients) if (tf.getGradient(g.kernelName) === undefined) tf.registerGradient(g);
  return done;
};
