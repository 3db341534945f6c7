"""Evaluate stage. Kept empty so pure scoring (`harness.evaluate.sql`) imports without torch.

`pair.evaluate_pair` is the base-vs-tuned comparison; its parts: `scorers` (the metric families
`evaluation.metrics` names), `decoding` (the decoding modes), `model_run` (one model's answers,
scores and timings), `record` (the typed `Evaluation`), `verdict` (the policy), `objective` (a
search trial's score); `answers` scores answers produced elsewhere (`harness score`).
"""
