/** Tiny configs of each architecture for the model tests. */
export const tinyGpt2Config = {
  model_type: "gpt2",
  vocab_size: 50,
  n_positions: 32,
  n_embd: 32,
  n_layer: 2,
  n_head: 4,
  activation_function: "gelu_new",
  resid_pdrop: 0,
  embd_pdrop: 0,
  attn_pdrop: 0,
  layer_norm_epsilon: 1e-5,
  eos_token_id: 0,
  bos_token_id: 0,
} as const;

export const tinyLlamaConfig = {
  model_type: "llama",
  vocab_size: 64,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: false,
  pad_token_id: 0,
  eos_token_id: 1,
  bos_token_id: 2,
} as const;

export const tinyBertConfig = {
  model_type: "bert",
  vocab_size: 40,
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 64,
  max_position_embeddings: 24,
  type_vocab_size: 2,
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  layer_norm_eps: 1e-12,
  pad_token_id: 0,
  num_labels: 3,
} as const;

/** Deterministic int ids [B, T] in [lo, hi). */
export const idsOf = (b: number, t: number, hi: number, lo = 3, seed = 1): number[][] =>
  Array.from({ length: b }, (_, i) => Array.from({ length: t }, (_, j) => lo + ((seed * 7919 + i * 31 + j * 17 + i * j * 13) % (hi - lo))));
