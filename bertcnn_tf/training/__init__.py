"""Fine-tuning with `model.fit` (`trainer`), head comparisons (`compare`), evaluation and the run folder."""
