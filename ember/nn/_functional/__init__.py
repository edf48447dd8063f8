"""One file per family of ember.nn.functional; nn/functional.py re-exports each file's __all__."""
