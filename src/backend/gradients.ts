/**
 * Registering TensorFlow.js's gradient functions under Node.
 *
 * `@tensorflow/tfjs-core`'s Node entry point (`dist/tf-core.node.js`) carries
 * every op and kernel name but **no gradient functions**: those live only in
 * the package's ES-module build (`dist/register_all_gradients.js`), which the
 * `@tensorflow/tfjs` union package pulls in. That build uses extensionless and
 * directory-style relative imports (`'./gradients/Abs_grad'`), which Node's
 * ESM loader refuses (`ERR_UNSUPPORTED_DIR_IMPORT`). So, with only
 * `tfjs-core` installed, `tf.grad` fails with "gradient function not found for
 * Sum".
 *
 * Choice: rather than re-implement ~150 gradients, we load tfjs-core's own,
 * through a resolve hook (`node:module`'s `register`, Node ≥ 20.6) that adds
 * `.js` (or `/index.js`) to relative, extensionless specifiers — and only for
 * importers inside `@tensorflow/tfjs-core/dist/`. The hook is a `data:` URL, so
 * nothing extra ships. The ES build is a second copy of tfjs-core's modules,
 * but the engine, the kernel registry and the gradient registry are global
 * singletons (`globalThis._tfengine`, `_tfGlobals`) and `Tensor` uses
 * `Symbol.hasInstance` duck typing, exactly so that several copies cooperate.
 * Cost: ~0.5 s once per process.
 *
 * When gradients are already registered (e.g. `@tensorflow/tfjs` or
 * `@tensorflow/tfjs-node` was imported, or a bundler resolved the ES build),
 * nothing is loaded.
 *
 * On top of tfjs-core's set, {@link registerGradientFixes} replaces or adds a
 * few (see there): broadcasting `BatchMatMul`, `Maximum`, `Minimum`,
 * `SquaredDifference`, whose stock gradients return the broadcast shape
 * instead of the input's, and zero gradients for comparisons and logical ops,
 * which tfjs-core leaves without one (so `tf.where(tf.greater(x, 0), …)`
 * cannot be differentiated).
 */
import * as tf from "@tensorflow/tfjs-core";
import { register } from "node:module";

/** The resolve hook, as source (see the module comment). */
const HOOK_SOURCE = `
const inside = (u) => typeof u === "string" && u.includes("/@tensorflow/tfjs-core/dist/");
const relative = (s) => s.startsWith("./") || s.startsWith("../");
export async function resolve(specifier, context, next) {
  if (inside(context.parentURL) && relative(specifier) && !/\\.[cm]?js$/.test(specifier)) {
    try { return await next(specifier + ".js", context); }
    catch { return next(specifier + "/index.js", context); }
  }
  return next(specifier, context);
}
`;

let loading: Promise<void> | undefined;

/** Whether gradient functions are registered (probed through `Sum`'s). */
export const gradientsRegistered = (): boolean => tf.getGradient("Sum") !== undefined;

/**
 * Make sure tfjs-core's gradient functions are registered (idempotent).
 * Throws with an explanation if they cannot be loaded.
 */
export const ensureGradients = async (): Promise<void> => {
  if (gradientsRegistered()) return;
  loading ??= (async () => {
    if (typeof register !== "function") {
      throw new Error(
        `[peft-ts] TensorFlow.js gradients need node:module's register() (Node >= 20.6; this is ${process.version}), ` +
          "or import @tensorflow/tfjs before peft-ts",
      );
    }
    register(`data:text/javascript,${encodeURIComponent(HOOK_SOURCE)}`);
    // A variable specifier keeps TypeScript from resolving it (there are no
    // types for this entry) and bundlers from trying to inline it.
    const entry = "@tensorflow/tfjs-core/dist/register_all_gradients.js";
    await import(entry);
    if (!gradientsRegistered()) {
      throw new Error(
        "[peft-ts] could not register TensorFlow.js gradients (loaded " +
          `${entry}, but Sum's gradient is still missing)`,
      );
    }
  })();
  await loading;
  registerGradientFixes();
};

/**
 * Sum `g` down to `shape` over the axes broadcasting expanded (leading extra
 * axes, and axes where `shape` has 1), then reshape to `shape`.
 */
const reduceTo = (g: tf.Tensor, shape: ReadonlyArray<number>): tf.Tensor => {
  const lead = g.shape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.shape.length; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? tf.sum(g, axes) : g;
  return tf.reshape(summed, [...shape]);
};

const batchSize = (t: tf.Tensor): number => t.shape.slice(0, -2).reduce((a, b) => a * b, 1);

/**
 * BatchMatMul's gradient with broadcasting of batch dims. The stock gradient
 * returns, e.g. for `matMul(x[B,T,K], w[K,N])`, a `[B,K,N]` gradient for `w`
 * and tfjs rejects it. Here each gradient is summed to its input's shape; and
 * for the common `x·W` case (unbatched `b`, untransposed `a`) `dW` is one 2-D
 * product over the folded batch (`[B·T,K]ᵀ·[B·T,N]`) instead of B products and
 * a sum.
 */
const batchMatMulGrad: tf.GradConfig = {
  kernelName: tf.BatchMatMul,
  inputsToSave: ["a", "b"],
  gradFunc: (dy, saved, attrs) => {
    const [a, b] = saved as [tf.Tensor, tf.Tensor];
    const g = Array.isArray(dy) ? (dy[0] as tf.Tensor) : dy;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const da = (): tf.Tensor => {
      const raw = !transposeA
        ? tf.matMul(g, b, false, !transposeB)
        : tf.matMul(b, g, transposeB, true);
      return reduceTo(raw, a.shape);
    };
    const db = (): tf.Tensor => {
      if (batchSize(b) === 1 && batchSize(a) > 1 && !transposeA) {
        const k = a.shape[a.shape.length - 1] as number;
        const n = g.shape[g.shape.length - 1] as number;
        const a2 = tf.reshape(a, [-1, k]);
        const g2 = tf.reshape(g, [-1, n]);
        const raw = transposeB ? tf.matMul(g2, a2, true, false) : tf.matMul(a2, g2, true, false);
        return tf.reshape(raw, b.shape);
      }
      const raw = !transposeB
        ? tf.matMul(a, g, !transposeA, false)
        : tf.matMul(g, a, true, transposeA);
      return reduceTo(raw, b.shape);
    };
    return { a: da, b: db };
  },
};

/** An elementwise binary gradient, reduced to each input's shape. */
const binaryGrad = (
  kernelName: string,
  fa: (dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
  fb: (dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
): tf.GradConfig => ({
  kernelName,
  inputsToSave: ["a", "b"],
  gradFunc: (dy, saved) => {
    const [a, b] = saved as [tf.Tensor, tf.Tensor];
    const g = Array.isArray(dy) ? (dy[0] as tf.Tensor) : dy;
    return { a: () => reduceTo(fa(g, a, b), a.shape), b: () => reduceTo(fb(g, a, b), b.shape) };
  },
});

const mask = (t: tf.Tensor): tf.Tensor => tf.cast(t, "float32");

/** Zero gradients (float32, as the tape requires) for every input. */
const zeroGrad = (kernelName: string, inputs: ReadonlyArray<string>): tf.GradConfig => ({
  kernelName,
  inputsToSave: [...inputs],
  gradFunc: (_dy, saved) => {
    const out: Record<string, () => tf.Tensor> = {};
    inputs.forEach((name, i) => {
      const t = saved[i] as tf.Tensor;
      out[name] = () => tf.zeros(t.shape, "float32");
    });
    return out;
  },
});

let fixesRegistered = false;

/** Register the gradient fixes described in the module comment (idempotent). */
export const registerGradientFixes = (): void => {
  if (fixesRegistered) return;
  fixesRegistered = true;
  tf.registerGradient(batchMatMulGrad);
  tf.registerGradient(
    binaryGrad(
      tf.Maximum,
      (g, a, b) => tf.mul(g, mask(tf.greaterEqual(a, b))),
      (g, a, b) => tf.mul(g, mask(tf.less(a, b))),
    ),
  );
  tf.registerGradient(
    binaryGrad(
      tf.Minimum,
      (g, a, b) => tf.mul(g, mask(tf.lessEqual(a, b))),
      (g, a, b) => tf.mul(g, mask(tf.greater(a, b))),
    ),
  );
  tf.registerGradient(
    binaryGrad(
      tf.SquaredDifference,
      (g, a, b) => tf.mul(g, tf.mul(tf.sub(a, b), 2)),
      (g, a, b) => tf.mul(g, tf.mul(tf.sub(b, a), 2)),
    ),
  );
  for (const k of [tf.Greater, tf.GreaterEqual, tf.Less, tf.LessEqual, tf.Equal, tf.NotEqual, tf.LogicalAnd, tf.LogicalOr, "LogicalXor"]) {
    tf.registerGradient(zeroGrad(k, ["a", "b"]));
  }
  tf.registerGradient(zeroGrad(tf.LogicalNot, ["x"]));
};
