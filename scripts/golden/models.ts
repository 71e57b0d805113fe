/** Build the base model a golden case describes (`case.json → model`), randomly initialised. */
import * as E from "fp-ts/lib/Either.js";
import { buildFromConfig, fromLayers, type LayerSpec, type Node } from "../../src/index.js";

export const buildCaseModel = (model: { readonly kind: string; readonly [k: string]: unknown }): Node | undefined => {
  switch (model.kind) {
    case "mlp":
    case "conv":
    case "emb":
      return fromLayers(model["layers"] as ReadonlyArray<LayerSpec>);
    case "gpt2": {
      const built = buildFromConfig(model["config"]);
      if (E.isLeft(built)) throw new Error(`case model config: ${JSON.stringify(built.left)}`);
      return built.right;
    }
    default:
      return undefined;
  }
};
