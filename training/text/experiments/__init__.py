"""Text-model experiments that the shipped recipe does not use (weight soups, distillation from
an ensemble, dev-set prior correction, a card for any run); their results are in
``training/EXPERIMENTS.md``."""
