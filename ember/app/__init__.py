"""ember.app: the `ember` command and what only it uses (train, tutorial, info, bench, viz, run); the core never
imports it.

cli: the command line; training (+ training_io): `ember train`; tutorial, info, bench, viz; runner: `ember run`.
"""
