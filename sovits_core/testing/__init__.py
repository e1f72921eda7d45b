"""Test and benchmark helpers: ``python -m sovits_core.testing.make_model OUT_DIR`` writes a random model folder."""
