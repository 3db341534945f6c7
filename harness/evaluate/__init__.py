"""Evaluate stage. Kept empty so pure scoring (`harness.evaluate.sql`) imports without torch;
the base-vs-tuned comparison lives in `harness.evaluate.pair`."""
