/** Build the base model a golden case describes (`case.json → model`). */
import { fromLayers, type LayerSpec, type Node } from "../../src/index.js";

export const buildCaseModel = (model: { readonly kind: string; readonly [k: string]: unknown }): Node | undefined => {
  switch (model.kind) {
    case "mlp":
    case "conv":
    case "emb":
      return fromLayers(model["layers"] as ReadonlyArray<LayerSpec>);
    default:
      return undefined;
  }
};
